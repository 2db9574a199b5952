/* The SIP parser's fast header pass in C (see sip/parser.py, ``parse``).
 *
 * The Python loop it replaces runs once per header line of every message: split the head on
 * LF, ``line.partition(":")``, look the raw name up in the table of names seen before, skip
 * headers the parse profile does not keep, ``value.strip()``, and share equal values through
 * the parser's table. fast_headers() does exactly that, in the same order and with the same
 * effects on the tables, and returns None whenever the Python loop would leave for the
 * general pass (a name not in the table, a line without a colon), so that pass then runs as
 * before. The Python loop stays the reference: it runs alone when this module is not built,
 * and tests/sip/test_fast_headers.py checks that both give the same result.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyDoc_STRVAR(fast_headers_doc,
"fast_headers(head, known, keep, shared, max_chars, limit) -> (names, values) | None\n\n"
"The header lines of ``head`` (every line after the first, split on LF) as lists of folded\n"
"names and stripped, shared values, or None when a line's raw name (before its first colon)\n"
"is not in ``known`` or it has no colon. ``keep`` (a set, or None for all) selects the names\n"
"kept; ``shared`` is the parser's table of equal values, of at most ``limit`` entries, for\n"
"values of at most ``max_chars`` characters.");

static PyObject *fast_headers(PyObject *module, PyObject *args) {
    PyObject *head, *known, *keep, *shared;
    Py_ssize_t max_chars, limit;
    (void)module;
    if (!PyArg_ParseTuple(args, "UO!OO!nn", &head, &PyDict_Type, &known, &keep, &PyDict_Type,
                          &shared, &max_chars, &limit)) {
        return NULL;
    }
    if (keep != Py_None && !PyAnySet_Check(keep)) {
        PyErr_SetString(PyExc_TypeError, "keep must be a set, a frozenset or None");
        return NULL;
    }
    const int kind = PyUnicode_KIND(head);
    const void *data = PyUnicode_DATA(head);
    const Py_ssize_t length = PyUnicode_GET_LENGTH(head);
    PyObject *names = PyList_New(0);
    PyObject *values = PyList_New(0);
    if (names == NULL || values == NULL) {
        goto error;
    }
    Py_ssize_t start = 0;
    while (start < length && PyUnicode_READ(kind, data, start) != '\n') {
        start++;
    }
    while (start < length) {
        /* start is at the LF ending the previous line: the next line begins after it. */
        Py_ssize_t begin = start + 1, colon = -1, end = begin;
        while (end < length) {
            Py_UCS4 c = PyUnicode_READ(kind, data, end);
            if (c == '\n') {
                break;
            }
            if (c == ':' && colon < 0) {
                colon = end;
            }
            end++;
        }
        start = end;
        if (colon < 0) {
            goto fallback;
        }
        PyObject *name = PyUnicode_Substring(head, begin, colon);
        if (name == NULL) {
            goto error;
        }
        PyObject *key = PyDict_GetItemWithError(known, name); /* borrowed */
        Py_DECREF(name);
        if (key == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            goto fallback;
        }
        if (keep != Py_None) {
            int kept = PySet_Contains(keep, key);
            if (kept < 0) {
                goto error;
            }
            if (!kept) {
                continue;
            }
        }
        Py_ssize_t first = colon + 1, last = end;
        while (first < last && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, first))) {
            first++;
        }
        while (last > first && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, last - 1))) {
            last--;
        }
        PyObject *value = PyUnicode_Substring(head, first, last);
        if (value == NULL) {
            goto error;
        }
        PyObject *seen = PyDict_GetItemWithError(shared, value); /* borrowed */
        if (seen != NULL) {
            Py_INCREF(seen);
            Py_DECREF(value);
            value = seen;
        } else if (PyErr_Occurred()) {
            Py_DECREF(value);
            goto error;
        } else if (last - first <= max_chars) {
            if (PyDict_GET_SIZE(shared) >= limit) {
                PyDict_Clear(shared);
            }
            if (PyDict_SetItem(shared, value, value) < 0) {
                Py_DECREF(value);
                goto error;
            }
        }
        int failed = PyList_Append(names, key) < 0 || PyList_Append(values, value) < 0;
        Py_DECREF(value);
        if (failed) {
            goto error;
        }
    }
    return Py_BuildValue("(NN)", names, values);

fallback:
    Py_DECREF(names);
    Py_DECREF(values);
    Py_RETURN_NONE;

error:
    Py_XDECREF(names);
    Py_XDECREF(values);
    return NULL;
}

static PyMethodDef methods[] = {
    {"fast_headers", fast_headers, METH_VARARGS, fast_headers_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef headers_module = {
    PyModuleDef_HEAD_INIT, "_headers",
    "The SIP parser's fast header pass in C (see sip/_headers.c); optional.", -1, methods,
};

PyMODINIT_FUNC PyInit__headers(void) { return PyModule_Create(&headers_module); }
