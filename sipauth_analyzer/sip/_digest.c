/* The digest parser's plain fast path in C (see sip/digest.py, ``python_plain_fields``).
 *
 * Every WWW-Authenticate, Proxy-Authenticate, Authorization and Proxy-Authorization value of a
 * capture goes through it: on an auth storm that is three values in four messages. The Python
 * function checks the whole value against one regular expression (a scheme, then
 * ``name=value`` pairs separated by commas, values quoted without a backslash or bare), finds
 * the pairs again with ``findall``, and builds a dict of them by lower-case name. The grammar
 * is a single character class at each step, so one left-to-right scan decides the same thing:
 * plain_fields() does that scan and returns what the Python function returns, or None where
 * it returns None (not that grammar, a token68 where parameters should be, a name given
 * twice). The Python function stays the reference: it runs alone when this module is not
 * built, and tests/sip/test_digest_fast_path.py checks that both give the same result.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyDoc_STRVAR(plain_fields_doc,
"plain_fields(value, params_only) -> (scheme, scheme_start, fields) | None\n\n"
"A challenge or credentials value (``params_only``: an Authentication-Info value, parameters\n"
"only) read as one scheme and its ``name=value`` parameters, quoted-strings taken as plain\n"
"text between two quotes; ``fields`` maps each lower-case name to its value, in header\n"
"order. None when the value is not exactly that, when a token68 stands where the parameters\n"
"should start, or when a name occurs twice.");

/* An ASCII letter or digit, or one of ``extra``. */
static int is_alnum_or(Py_UCS4 c, const char *extra) {
    if (c >= 128) {
        return 0;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != 0 && strchr(extra, (int)c) != NULL;
}

/* RFC 7230 §3.2.6 tchar and RFC 7235 §2.1 token68 characters. */
static int is_tchar(Py_UCS4 c) { return is_alnum_or(c, "!#$%&'*+-.^_`|~"); }

static int is_token68(Py_UCS4 c) { return is_alnum_or(c, "-._~+/"); }

static int is_blank(Py_UCS4 c) { return c == ' ' || c == '\t'; }

/* The name, lower-cased: it is made of tchars, which are ASCII. */
static PyObject *lowered_name(PyObject *value, const int kind, const void *data,
                              Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t index;
    for (index = start; index < end; index++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, index);
        if (c >= 'A' && c <= 'Z') {
            break;
        }
    }
    if (index == end) {
        return PyUnicode_Substring(value, start, end);
    }
    PyObject *name = PyUnicode_New(end - start, 127);
    if (name == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(name);
    for (index = start; index < end; index++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, index);
        out[index - start] = (Py_UCS1)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    return name;
}

static PyObject *plain_fields(PyObject *module, PyObject *args) {
    PyObject *value;
    int params_only;
    (void)module;
    if (!PyArg_ParseTuple(args, "Up", &value, &params_only)) {
        return NULL;
    }
    const int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    const Py_ssize_t length = PyUnicode_GET_LENGTH(value);
#define AT(i) PyUnicode_READ(kind, data, (i))
    Py_ssize_t index = 0;
    while (index < length && is_blank(AT(index))) {
        index++;
    }
    Py_ssize_t scheme_start = 0, scheme_end = 0;
    if (!params_only) {
        scheme_start = index;
        while (index < length && is_tchar(AT(index))) {
            index++;
        }
        scheme_end = index;
        if (scheme_end == scheme_start || index >= length || !is_blank(AT(index))) {
            Py_RETURN_NONE;
        }
        while (index < length && is_blank(AT(index))) {
            index++;
        }
        /* RFC 7235 §2.1: a token68 (``Basic QWxh...==``) may stand where the parameters would;
         * the Python path declines it, after OWS or CR/LF, at the end or before a comma. */
        Py_ssize_t token = index;
        while (token < length && is_token68(AT(token))) {
            token++;
        }
        if (token > index) {
            while (token < length && AT(token) == '=') {
                token++;
            }
            while (token < length && (is_blank(AT(token)) || AT(token) == '\r' ||
                                      AT(token) == '\n')) {
                token++;
            }
            if (token >= length || AT(token) == ',') {
                Py_RETURN_NONE;
            }
        }
    }
    PyObject *fields = PyDict_New();
    if (fields == NULL) {
        return NULL;
    }
    for (;;) {
        Py_ssize_t name_start = index;
        while (index < length && is_tchar(AT(index))) {
            index++;
        }
        Py_ssize_t name_end = index;
        if (name_end == name_start) {
            goto decline;
        }
        while (index < length && is_blank(AT(index))) {
            index++;
        }
        if (index >= length || AT(index) != '=') {
            goto decline;
        }
        index++;
        while (index < length && is_blank(AT(index))) {
            index++;
        }
        Py_ssize_t value_start, value_end;
        if (index < length && AT(index) == '"') {
            value_start = index + 1;
            value_end = value_start;
            while (value_end < length && AT(value_end) != '"') {
                value_end++;
            }
            if (value_end >= length) {
                goto decline;
            }
            index = value_end + 1;
        } else {
            value_start = index;
            while (index < length) {
                Py_UCS4 c = AT(index);
                if (c == ',' || c == '"' || Py_UNICODE_ISSPACE(c)) {
                    break;
                }
                index++;
            }
            value_end = index;
            if (value_end == value_start) {
                goto decline;
            }
        }
        PyObject *name = lowered_name(value, kind, data, name_start, name_end);
        if (name == NULL) {
            goto error;
        }
        int repeated = PyDict_Contains(fields, name);
        if (repeated != 0) { /* RFC 7235 §2.2: the scanner reports a repeated name */
            Py_DECREF(name);
            if (repeated < 0) {
                goto error;
            }
            goto decline;
        }
        PyObject *text = PyUnicode_Substring(value, value_start, value_end);
        if (text == NULL) {
            Py_DECREF(name);
            goto error;
        }
        int failed = PyDict_SetItem(fields, name, text) < 0;
        Py_DECREF(name);
        Py_DECREF(text);
        if (failed) {
            goto error;
        }
        while (index < length && is_blank(AT(index))) {
            index++;
        }
        if (index >= length) {
            break;
        }
        if (AT(index) != ',') {
            goto decline;
        }
        index++;
        while (index < length && is_blank(AT(index))) {
            index++;
        }
    }
#undef AT
    PyObject *scheme = params_only ? PyUnicode_FromStringAndSize("", 0)
                                   : PyUnicode_Substring(value, scheme_start, scheme_end);
    if (scheme == NULL) {
        goto error;
    }
    return Py_BuildValue("(NnN)", scheme, params_only ? (Py_ssize_t)0 : scheme_start, fields);

decline:
    Py_DECREF(fields);
    Py_RETURN_NONE;

error:
    Py_DECREF(fields);
    return NULL;
}

static PyMethodDef methods[] = {
    {"plain_fields", plain_fields, METH_VARARGS, plain_fields_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef digest_module = {
    PyModuleDef_HEAD_INIT, "_digest",
    "The digest parser's plain fast path in C (see sip/_digest.c); optional.", -1, methods,
};

PyMODINIT_FUNC PyInit__digest(void) { return PyModule_Create(&digest_module); }
