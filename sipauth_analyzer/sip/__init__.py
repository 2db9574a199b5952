"""SIP stage: captured bytes → SipMessage (tolerant parser) and the digest auth grammar."""
