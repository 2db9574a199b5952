/* The reader's drop path in C: skip a run of RTP-like records without creating an object.
 *
 * capture/reader.py walks pcap records and pcapng Enhanced Packet Blocks with one struct read
 * per record, and drops every untunnelled, unfragmented IPv4/UDP packet whose payload starts
 * with a byte >= 0x80 (RTP version 2, never a SIP start line). On a trunk capture that is
 * 98 % of the records, and the Python loop spends ~0.45 us on each. drop_run() runs the same
 * test over as many consecutive records as it can and stops, without consuming it, at the
 * first record the Python loop must look at: one that is not dropped, that does not fit in
 * the buffer, or whose fixed-offset read would pass the buffer's end. The Python loop stays
 * the reference (it runs alone when this module is not built) and
 * tests/capture/test_droprun.py checks that both give the same result on every capture.
 *
 * Every read is bounds-checked against the buffer: `off + span <= end` before any field is
 * read (span covers the furthest field), and a record's end must not pass the buffer's end.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static inline uint32_t read_u32(const unsigned char *p, int little) {
    return little ? ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24)
                  : ((uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
                     (uint32_t)p[0] << 24);
}

static inline uint32_t read_u16(const unsigned char *p, int little) {
    return little ? ((uint32_t)p[0] | (uint32_t)p[1] << 8) : ((uint32_t)p[1] | (uint32_t)p[0] << 8);
}

PyDoc_STRVAR(drop_run_doc,
"drop_run(buf, off, end, pcapng, little, check_at, frag_at, proto_at, first_at, span,\n"
"         want, check_mask, frag_mask, min_caplen, max_record_length, iface)\n"
"-> (off, records, captured_bytes, last_a, last_b)\n\n"
"Skip the records from buf[off:] that reader.py's fast loop drops. Returns where it stopped,\n"
"how many records it skipped and their captured bytes, and the last skipped one's\n"
"timestamp words (seconds and fraction for pcap; high and low for pcapng; -1, -1 when none\n"
"was skipped). ``pcapng`` selects the Enhanced Packet Block layout (only blocks of\n"
"interface ``iface``); otherwise pcap records, whose caplen must not exceed\n"
"``max_record_length``.");

static PyObject *drop_run(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t off, end, check_at, frag_at, proto_at, first_at, span, min_caplen;
    unsigned long long max_record_length;
    long long iface;
    int pcapng, little;
    unsigned long want, check_mask, frag_mask;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*nnppnnnnnkkknKL", &view, &off, &end, &pcapng, &little,
                          &check_at, &frag_at, &proto_at, &first_at, &span, &want,
                          &check_mask, &frag_mask, &min_caplen, &max_record_length, &iface)) {
        return NULL;
    }
    if (end > view.len) {
        end = view.len;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    long long records = 0;
    unsigned long long captured = 0;
    long long last_a = -1, last_b = -1;
    if (off >= 0 && span > 0 && check_at >= 0 && frag_at >= 0 && proto_at >= 0 &&
        first_at >= 0 && check_at + 4 <= span && frag_at + 2 <= span && proto_at < span &&
        first_at < span) {
        while (off <= end - span) {
            const unsigned char *p = buf + off;
            uint32_t caplen;
            Py_ssize_t next;
            if (pcapng) {
                uint32_t total = read_u32(p + 4, little);
                caplen = read_u32(p + 20, little);
                if (read_u32(p, little) != 6 || (long long)read_u32(p + 8, little) != iface ||
                    total < 32 || caplen > total - 32 || (Py_ssize_t)total > end - off) {
                    break;
                }
                next = off + (Py_ssize_t)total;
            } else {
                caplen = read_u32(p + 8, little);
                if ((unsigned long long)caplen > max_record_length ||
                    (Py_ssize_t)caplen > end - off - 16) {
                    break;
                }
                next = off + 16 + (Py_ssize_t)caplen;
            }
            if ((read_u32(p + check_at, little) & check_mask) != want || p[proto_at] != 17 ||
                (read_u16(p + frag_at, little) & frag_mask) != 0 || p[first_at] < 0x80 ||
                (Py_ssize_t)caplen < min_caplen) {
                break;
            }
            records += 1;
            captured += caplen;
            if (pcapng) {
                last_a = read_u32(p + 12, little);
                last_b = read_u32(p + 16, little);
            } else {
                last_a = read_u32(p, little);
                last_b = read_u32(p + 4, little);
            }
            off = next;
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("nLKLL", off, records, captured, last_a, last_b);
}

static PyMethodDef methods[] = {
    {"drop_run", drop_run, METH_VARARGS, drop_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef droprun_module = {
    PyModuleDef_HEAD_INIT, "_droprun",
    "The reader's drop path in C (see capture/_droprun.c); optional.", -1, methods,
};

PyMODINIT_FUNC PyInit__droprun(void) { return PyModule_Create(&droprun_module); }
