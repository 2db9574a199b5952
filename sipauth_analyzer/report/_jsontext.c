/* The JSON report's attempt records in C (see report/json_report.py, ``_attempt_json``).
 *
 * An auth storm's report is nearly all exchanges, and an exchange is nearly all attempts:
 * 87,502 attempt records on the 200,000-message bench storm, each a request with its
 * responses, the challenge it got and the credentials it carried. The Python writer spends
 * most of its time in attribute lookups, small helper calls, float formatting and f-string
 * assembly; this module writes the same text from the same objects into one ASCII buffer
 * (a string that is not ASCII is joined in as it is). ``_attempt_json`` stays the reference:
 * it runs alone when this module is not built and whenever a record carries a verification,
 * and tests/report/test_json_attempts.py checks that both write the same text, byte for byte.
 *
 * Every value is read through the same attribute (properties included) and formatted as the
 * Python code formats it: ``int.__repr__`` for ints, ``round(t, 6)`` then ``float.__repr__``
 * (or NaN / Infinity) for times, ``str()`` for the StrEnums, and the json module's own
 * ``encode_basestring`` for any string that needs escaping (one without a quote, a backslash
 * or a control character is written between quotes as it is, which is what that function
 * returns for it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

PyDoc_STRVAR(attempts_json_doc,
"attempts_json(attempts, show_secrets, redacted_json) -> str\n\n"
"The attempt records of one exchange, as JSON text joined by \", \", each with\n"
"``\"verification\": null``: what ``\", \".join(_attempt_json(a, {}, show_secrets) ...)``\n"
"returns. ``redacted_json`` is the quoted text written in place of a secret.");

PyDoc_STRVAR(time_json_doc,
"time_json(epoch) -> str\n\n"
"``round(epoch, 6)`` as the json encoder writes it (``null``, ``NaN``, ``Infinity``): what\n"
"json_report._json_time returns. For tests.");

/* Attribute names, interned once. */
static PyObject *s_request, *s_source, *s_final, *s_retransmissions, *s_responses, *s_frame,
    *s_time, *s_status, *s_file, *s_cseq_number, *s_transport, *s_wire_size, *s_challenges,
    *s_credentials, *s_header, *s_scheme, *s_realm, *s_nonce, *s_algorithm, *s_qop_options,
    *s_opaque, *s_stale, *s_username, *s_uri, *s_qop, *s_nc, *s_response, *s_cnonce;

/* What the Python writer calls: json.encoder.encode_basestring, builtins.round, and 6. */
static PyObject *encode_basestring, *builtin_round, *six_digits;

/* The text being written: ASCII in ``data``; ``parts`` holds what came before the first
 * string that is not ASCII, and what came after it, in order (NULL until then). */
typedef struct {
    char *data;
    Py_ssize_t length;
    Py_ssize_t capacity;
    PyObject *parts;
} Out;

static int reserve(Out *out, Py_ssize_t extra) {
    if (out->length + extra <= out->capacity) {
        return 0;
    }
    Py_ssize_t capacity = out->capacity ? out->capacity : 1024;
    while (capacity < out->length + extra) {
        if (capacity > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        capacity *= 2;
    }
    char *data = PyMem_Realloc(out->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->data = data;
    out->capacity = capacity;
    return 0;
}

static int put_bytes(Out *out, const char *text, Py_ssize_t length) {
    if (reserve(out, length) < 0) {
        return -1;
    }
    memcpy(out->data + out->length, text, (size_t)length);
    out->length += length;
    return 0;
}

#define PUT(out, literal) put_bytes((out), (literal), (Py_ssize_t)(sizeof(literal) - 1))

/* The buffered ASCII, as a str. */
static PyObject *buffered(Out *out) {
    PyObject *text = PyUnicode_New(out->length, 127);
    if (text != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(text), out->data, (size_t)out->length);
    }
    return text;
}

/* Appends ``text`` (a new reference, or NULL on error) to ``parts``. */
static int append_part(Out *out, PyObject *text) {
    if (text == NULL) {
        return -1;
    }
    if (out->parts == NULL) {
        out->parts = PyList_New(0);
        if (out->parts == NULL) {
            Py_DECREF(text);
            return -1;
        }
    }
    int failed = PyList_Append(out->parts, text);
    Py_DECREF(text);
    return failed;
}

/* A str written as it is (it needs no escaping). */
static int put_text(Out *out, PyObject *text) {
    if (PyUnicode_IS_ASCII(text)) {
        return put_bytes(out, (const char *)PyUnicode_1BYTE_DATA(text),
                         PyUnicode_GET_LENGTH(text));
    }
    if (out->length > 0) {
        if (append_part(out, buffered(out)) < 0) {
            return -1;
        }
        out->length = 0;
    }
    Py_INCREF(text);
    return append_part(out, text);
}

/* ``put_text`` of a new reference (or NULL on error), released here. */
static int put_new_text(Out *out, PyObject *text) {
    if (text == NULL) {
        return -1;
    }
    int failed = put_text(out, text);
    Py_DECREF(text);
    return failed;
}

/* The whole text; releases ``out``. */
static PyObject *finish(Out *out) {
    PyObject *text;
    if (out->parts == NULL) {
        text = buffered(out);
    } else if (out->length > 0 && append_part(out, buffered(out)) < 0) {
        text = NULL;
    } else {
        PyObject *empty = PyUnicode_New(0, 0);
        text = empty == NULL ? NULL : PyUnicode_Join(empty, out->parts);
        Py_XDECREF(empty);
    }
    Py_CLEAR(out->parts);
    PyMem_Free(out->data);
    out->data = NULL;
    out->length = out->capacity = 0;
    return text;
}

/* A string as ``encode_basestring`` writes it (ensure_ascii off: only ``"``, ``\`` and
 * U+0000..U+001F are escaped). */
static int put_quoted(Out *out, PyObject *value) {
    if (PyUnicode_Check(value)) {
        const int kind = PyUnicode_KIND(value);
        const void *data = PyUnicode_DATA(value);
        const Py_ssize_t length = PyUnicode_GET_LENGTH(value);
        Py_ssize_t index;
        for (index = 0; index < length; index++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, index);
            if (c < 0x20 || c == '"' || c == '\\') {
                break;
            }
        }
        if (index == length) {
            return PUT(out, "\"") < 0 || put_text(out, value) < 0 ? -1 : PUT(out, "\"");
        }
    }
    /* Needs escaping, or is not a str: the json module decides (and raises as it would). */
    return put_new_text(out, PyObject_CallOneArg(encode_basestring, value));
}

/* ``_json_str``: null, or the quoted string. */
static int put_str_or_null(Out *out, PyObject *value) {
    return value == Py_None ? PUT(out, "null") : put_quoted(out, value);
}

/* Decimal digits of ``value`` (no sign). */
static int put_unsigned(Out *out, unsigned long long value) {
    char digits[24];
    int start = (int)sizeof digits;
    do {
        digits[--start] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    return put_bytes(out, digits + start, (Py_ssize_t)sizeof digits - start);
}

/* ``int.__repr__(value)``: what it raises for anything but an int, this raises too. */
static int put_int(Out *out, PyObject *value) {
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "expected an int, got %.100s", Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow;
    const long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow) {
        return put_new_text(out, PyLong_Type.tp_repr(value));
    }
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (number < 0) {
        return PUT(out, "-") < 0 ? -1 : put_unsigned(out, 0ULL - (unsigned long long)number);
    }
    return put_unsigned(out, (unsigned long long)number);
}

/* ``_json_int``: null, or the int. */
static int put_int_or_null(Out *out, PyObject *value) {
    return value == Py_None ? PUT(out, "null") : put_int(out, value);
}

#if defined(__SIZEOF_INT128__)
/* ``float.__repr__(round(value, 6))`` for 0.0001 <= the result and value < 2**32, exactly,
 * without the two decimal conversions Python makes (0 when out of that range: the caller
 * then asks Python). value = m * 2**e exactly; value * 10**6 = m * 10**6 / 2**-e is rounded
 * to an integer q, half to even, as round() rounds the exact binary value. Below 2**32 a
 * double's spacing is under 1e-6, so the double nearest q / 10**6 has that decimal, with its
 * trailing zeros dropped, as its shortest repr; from 0.0001 repr writes it without exponent.
 */
static int put_time_fast(Out *out, double value) {
    if (!(value >= 0.0001 && value < 4294967296.0)) {
        return 0;
    }
    int exponent;
    const double fraction = frexp(value, &exponent);
    const uint64_t mantissa = (uint64_t)ldexp(fraction, 53);
    const int shift = 53 - exponent; /* 21..67 for the range above */
    const unsigned __int128 scaled = (unsigned __int128)mantissa * 1000000u;
    unsigned __int128 quotient = scaled >> shift;
    const unsigned __int128 remainder = scaled - (quotient << shift);
    const unsigned __int128 half = (unsigned __int128)1 << (shift - 1);
    if (remainder > half || (remainder == half && (quotient & 1))) {
        quotient += 1;
    }
    const uint64_t micros = (uint64_t)quotient; /* from 100, as value >= 0.0001 */
    char digits[8];
    uint64_t fraction_part = micros % 1000000u;
    int kept = 6;
    for (int index = 5; index >= 0; index--) {
        digits[index] = (char)('0' + fraction_part % 10);
        fraction_part /= 10;
    }
    while (kept > 1 && digits[kept - 1] == '0') {
        kept--;
    }
    if (put_unsigned(out, micros / 1000000u) < 0 || PUT(out, ".") < 0
        || put_bytes(out, digits, kept) < 0) {
        return -1;
    }
    return 1;
}
#else
static int put_time_fast(Out *out, double value) {
    (void)out;
    (void)value;
    return 0;
}
#endif

/* ``_json_time``: ``round(epoch, 6)`` as the encoder writes it. */
static int put_time(Out *out, PyObject *epoch) {
    if (epoch == Py_None) {
        return PUT(out, "null");
    }
    if (PyFloat_CheckExact(epoch)) {
        const int written = put_time_fast(out, PyFloat_AS_DOUBLE(epoch));
        if (written != 0) {
            return written < 0 ? -1 : 0;
        }
    }
    PyObject *rounded = PyObject_CallFunctionObjArgs(builtin_round, epoch, six_digits, NULL);
    if (rounded == NULL) {
        return -1;
    }
    if (!PyFloat_Check(rounded)) {
        PyErr_Format(PyExc_TypeError, "expected a float time, got %.100s",
                     Py_TYPE(rounded)->tp_name);
        Py_DECREF(rounded);
        return -1;
    }
    const double value = PyFloat_AS_DOUBLE(rounded);
    int failed;
    if (isnan(value)) {
        failed = PUT(out, "NaN");
    } else if (isinf(value)) {
        failed = value > 0 ? PUT(out, "Infinity") : PUT(out, "-Infinity");
    } else {
        failed = put_new_text(out, PyFloat_Type.tp_repr(rounded));
    }
    Py_DECREF(rounded);
    return failed;
}

/* ``obj.name`` formatted by ``writer``. */
static int put_attr(Out *out, PyObject *obj, PyObject *name, int (*writer)(Out *, PyObject *)) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int failed = writer(out, value);
    Py_DECREF(value);
    return failed;
}

/* ``str(obj.name)`` quoted: the StrEnum members (header, transport). */
static int put_str_of_attr(Out *out, PyObject *obj, PyObject *name) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    PyObject *text = PyObject_Str(value);
    Py_DECREF(value);
    if (text == NULL) {
        return -1;
    }
    int failed = put_quoted(out, text);
    Py_DECREF(text);
    return failed;
}

/* Whether ``obj.name`` is true (``as_none``: is not None). */
static int attr_truth(PyObject *obj, PyObject *name, int as_none) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    const int truth = as_none ? value != Py_None : PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* A secret (``_json_secret``): null, the quoted value when shown, else ``redacted``. */
static int put_secret(Out *out, PyObject *obj, PyObject *name, int show, PyObject *redacted) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int failed;
    if (value == Py_None) {
        failed = PUT(out, "null");
    } else if (show) {
        failed = put_quoted(out, value);
    } else {
        failed = put_text(out, redacted);
    }
    Py_DECREF(value);
    return failed;
}

/* Calls ``each`` for every item of ``obj.name``, ", " between them. */
typedef int (*ItemWriter)(Out *out, PyObject *item, int show, PyObject *redacted);

static int put_each(Out *out, PyObject *obj, PyObject *name, ItemWriter each, int show,
                    PyObject *redacted) {
    PyObject *items = PyObject_GetAttr(obj, name);
    if (items == NULL) {
        return -1;
    }
    PyObject *sequence = PySequence_Fast(items, "expected a sequence");
    Py_DECREF(items);
    if (sequence == NULL) {
        return -1;
    }
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **item = PySequence_Fast_ITEMS(sequence);
    int failed = 0;
    for (Py_ssize_t index = 0; index < count && !failed; index++) {
        failed = (index > 0 && PUT(out, ", ") < 0) || each(out, item[index], show, redacted) < 0;
    }
    Py_DECREF(sequence);
    return failed ? -1 : 0;
}

/* ``m.source.frame`` of a retransmission. */
static int put_retransmission(Out *out, PyObject *message, int show, PyObject *redacted) {
    (void)show;
    (void)redacted;
    PyObject *source = PyObject_GetAttr(message, s_source);
    if (source == NULL) {
        return -1;
    }
    int failed = put_attr(out, source, s_frame, put_int);
    Py_DECREF(source);
    return failed;
}

/* ``{"frame": …, "time": …, "status": …}`` of a response. */
static int put_response(Out *out, PyObject *response, int show, PyObject *redacted) {
    (void)show;
    (void)redacted;
    PyObject *source = PyObject_GetAttr(response, s_source);
    if (source == NULL) {
        return -1;
    }
    const int failed = PUT(out, "{\"frame\": ") < 0 || put_attr(out, source, s_frame, put_int) < 0
        || PUT(out, ", \"time\": ") < 0 || put_attr(out, source, s_time, put_time) < 0
        || PUT(out, ", \"status\": ") < 0
        || put_attr(out, response, s_status, put_int_or_null) < 0 || PUT(out, "}") < 0;
    Py_DECREF(source);
    return failed ? -1 : 0;
}

static int put_qop_option(Out *out, PyObject *option, int show, PyObject *redacted) {
    (void)show;
    (void)redacted;
    return put_quoted(out, option);
}

/* One challenge (``_challenges_json``). */
static int put_challenge(Out *out, PyObject *challenge, int show, PyObject *redacted) {
    if (PUT(out, "{\"header\": ") < 0 || put_str_of_attr(out, challenge, s_header) < 0
        || PUT(out, ", \"scheme\": ") < 0 || put_attr(out, challenge, s_scheme, put_quoted) < 0
        || PUT(out, ", \"realm\": ") < 0
        || put_attr(out, challenge, s_realm, put_str_or_null) < 0
        || PUT(out, ", \"nonce\": ") < 0
        || put_attr(out, challenge, s_nonce, put_str_or_null) < 0
        || PUT(out, ", \"algorithm\": ") < 0
        || put_attr(out, challenge, s_algorithm, put_str_or_null) < 0
        || PUT(out, ", \"qop\": [") < 0
        || put_each(out, challenge, s_qop_options, put_qop_option, show, redacted) < 0
        || PUT(out, "], \"opaque\": ") < 0) {
        return -1;
    }
    const int has_opaque = attr_truth(challenge, s_opaque, 1);
    if (has_opaque < 0 || (has_opaque ? PUT(out, "true") : PUT(out, "false")) < 0
        || PUT(out, ", \"stale\": ") < 0) {
        return -1;
    }
    const int is_stale = attr_truth(challenge, s_stale, 0);
    if (is_stale < 0 || (is_stale ? PUT(out, "true") : PUT(out, "false")) < 0) {
        return -1;
    }
    return PUT(out, "}");
}

/* One set of credentials (``_credentials_json``). */
static int put_credentials(Out *out, PyObject *creds, int show, PyObject *redacted) {
    return PUT(out, "{\"header\": ") < 0 || put_str_of_attr(out, creds, s_header) < 0
        || PUT(out, ", \"scheme\": ") < 0 || put_attr(out, creds, s_scheme, put_quoted) < 0
        || PUT(out, ", \"username\": ") < 0
        || put_attr(out, creds, s_username, put_str_or_null) < 0
        || PUT(out, ", \"realm\": ") < 0 || put_attr(out, creds, s_realm, put_str_or_null) < 0
        || PUT(out, ", \"nonce\": ") < 0 || put_attr(out, creds, s_nonce, put_str_or_null) < 0
        || PUT(out, ", \"uri\": ") < 0 || put_attr(out, creds, s_uri, put_str_or_null) < 0
        || PUT(out, ", \"algorithm\": ") < 0
        || put_attr(out, creds, s_algorithm, put_str_or_null) < 0
        || PUT(out, ", \"qop\": ") < 0 || put_attr(out, creds, s_qop, put_str_or_null) < 0
        || PUT(out, ", \"nc\": ") < 0 || put_attr(out, creds, s_nc, put_str_or_null) < 0
        || PUT(out, ", \"response\": ") < 0
        || put_secret(out, creds, s_response, show, redacted) < 0
        || PUT(out, ", \"cnonce\": ") < 0
        || put_secret(out, creds, s_cnonce, show, redacted) < 0 || PUT(out, "}") < 0
        ? -1 : 0;
}

/* ``final.status in (401, 407)``. */
static int is_challenge(PyObject *final) {
    PyObject *status = PyObject_GetAttr(final, s_status);
    if (status == NULL) {
        return -1;
    }
    int result = 0;
    if (PyLong_Check(status)) {
        int overflow;
        const long code = PyLong_AsLongAndOverflow(status, &overflow);
        result = !overflow && (code == 401 || code == 407);
    }
    Py_DECREF(status);
    return result;
}

/* One attempt (``_attempt_json`` without a verification). */
static int put_attempt(Out *out, PyObject *attempt, int show, PyObject *redacted) {
    PyObject *request = NULL, *source = NULL, *final = NULL;
    int failed = -1;
    request = PyObject_GetAttr(attempt, s_request);
    if (request == NULL) {
        goto done;
    }
    source = PyObject_GetAttr(request, s_source);
    if (source == NULL) {
        goto done;
    }
    final = PyObject_GetAttr(attempt, s_final);
    if (final == NULL) {
        goto done;
    }
    if (PUT(out, "{\"frame\": ") < 0 || put_attr(out, source, s_frame, put_int) < 0
        || PUT(out, ", \"file\": ") < 0 || put_attr(out, source, s_file, put_quoted) < 0
        || PUT(out, ", \"time\": ") < 0 || put_attr(out, source, s_time, put_time) < 0
        || PUT(out, ", \"cseq\": ") < 0
        || put_attr(out, request, s_cseq_number, put_int_or_null) < 0
        || PUT(out, ", \"transport\": ") < 0 || put_str_of_attr(out, source, s_transport) < 0
        || PUT(out, ", \"size\": ") < 0 || put_attr(out, source, s_wire_size, put_int) < 0
        || PUT(out, ", \"retransmission_frames\": [") < 0
        || put_each(out, attempt, s_retransmissions, put_retransmission, show, redacted) < 0
        || PUT(out, "], \"responses\": [") < 0
        || put_each(out, attempt, s_responses, put_response, show, redacted) < 0
        || PUT(out, "], \"final_status\": ") < 0) {
        goto done;
    }
    int challenged = 0;
    if (final == Py_None) {
        if (PUT(out, "null") < 0) {
            goto done;
        }
    } else {
        if (put_attr(out, final, s_status, put_int_or_null) < 0) {
            goto done;
        }
        challenged = is_challenge(final);
        if (challenged < 0) {
            goto done;
        }
    }
    if (PUT(out, ", \"challenges\": [") < 0
        || (challenged && put_each(out, final, s_challenges, put_challenge, show, redacted) < 0)
        || PUT(out, "], \"credentials\": [") < 0
        || put_each(out, request, s_credentials, put_credentials, show, redacted) < 0
        || PUT(out, "], \"verification\": null}") < 0) {
        goto done;
    }
    failed = 0;
done:
    Py_XDECREF(request);
    Py_XDECREF(source);
    Py_XDECREF(final);
    return failed;
}

static PyObject *attempts_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "attempts_json(attempts, show_secrets, redacted_json) takes 3 arguments");
        return NULL;
    }
    const int show = PyObject_IsTrue(args[1]);
    if (show < 0) {
        return NULL;
    }
    PyObject *redacted = args[2];
    if (!PyUnicode_Check(redacted)) {
        PyErr_SetString(PyExc_TypeError, "redacted_json must be a str");
        return NULL;
    }
    PyObject *attempts = PySequence_Fast(args[0], "attempts must be a sequence");
    if (attempts == NULL) {
        return NULL;
    }
    Out out = {NULL, 0, 0, NULL};
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(attempts);
    PyObject **item = PySequence_Fast_ITEMS(attempts);
    int failed = 0;
    for (Py_ssize_t index = 0; index < count && !failed; index++) {
        failed = (index > 0 && PUT(&out, ", ") < 0)
            || put_attempt(&out, item[index], show, redacted) < 0;
    }
    Py_DECREF(attempts);
    PyObject *text = finish(&out);
    if (failed) {
        Py_XDECREF(text);
        return NULL;
    }
    return text;
}

static PyObject *time_json(PyObject *module, PyObject *epoch) {
    (void)module;
    Out out = {NULL, 0, 0, NULL};
    const int failed = put_time(&out, epoch);
    PyObject *text = finish(&out);
    if (failed < 0) {
        Py_XDECREF(text);
        return NULL;
    }
    return text;
}

static PyMethodDef methods[] = {
    {"attempts_json", (PyCFunction)(void (*)(void))attempts_json, METH_FASTCALL,
     attempts_json_doc},
    {"time_json", (PyCFunction)time_json, METH_O, time_json_doc},
    {NULL, NULL, 0, NULL},
};

static int intern_all(void) {
    static const struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_request, "request"}, {&s_source, "source"}, {&s_final, "final"},
        {&s_retransmissions, "retransmissions"}, {&s_responses, "responses"},
        {&s_frame, "frame"}, {&s_time, "time"}, {&s_status, "status"}, {&s_file, "file"},
        {&s_cseq_number, "cseq_number"}, {&s_transport, "transport"},
        {&s_wire_size, "wire_size"}, {&s_challenges, "challenges"},
        {&s_credentials, "credentials"}, {&s_header, "header"}, {&s_scheme, "scheme"},
        {&s_realm, "realm"}, {&s_nonce, "nonce"}, {&s_algorithm, "algorithm"},
        {&s_qop_options, "qop_options"}, {&s_opaque, "opaque"}, {&s_stale, "stale"},
        {&s_username, "username"}, {&s_uri, "uri"}, {&s_qop, "qop"}, {&s_nc, "nc"},
        {&s_response, "response"}, {&s_cnonce, "cnonce"},
    };
    for (size_t index = 0; index < sizeof names / sizeof names[0]; index++) {
        *names[index].slot = PyUnicode_InternFromString(names[index].text);
        if (*names[index].slot == NULL) {
            return -1;
        }
    }
    return 0;
}

/* The module keeps what it made once in static variables, as the other C helpers keep none:
 * single-phase initialisation, so Python never loads it into a second interpreter that would
 * share them. */
static int init_once(void) {
    if (six_digits != NULL) {
        return 0;
    }
    if (intern_all() < 0) {
        return -1;
    }
    PyObject *encoder = PyImport_ImportModule("json.encoder");
    if (encoder == NULL) {
        return -1;
    }
    encode_basestring = PyObject_GetAttrString(encoder, "encode_basestring");
    Py_DECREF(encoder);
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL) {
        return -1;
    }
    builtin_round = PyObject_GetAttrString(builtins, "round");
    Py_DECREF(builtins);
    if (encode_basestring == NULL || builtin_round == NULL) {
        return -1;
    }
    six_digits = PyLong_FromLong(6);
    return six_digits == NULL ? -1 : 0;
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_jsontext",
    "The JSON report's attempt records in C (see report/json_report.py).", -1, methods, NULL,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jsontext(void) {
    if (init_once() < 0) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
