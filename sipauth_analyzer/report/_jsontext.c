/* The JSON report's attempt records in C (see report/json_report.py, ``_attempt_json``).
 *
 * An auth storm's report is nearly all exchanges, and an exchange is nearly all attempts:
 * 87,502 attempt records on the 200,000-message bench storm, each a request with its
 * responses, the challenge it got and the credentials it carried. The Python writer spends
 * most of its time in attribute lookups, small helper calls and f-string assembly; this module
 * writes the same text from the same objects. ``_attempt_json`` stays the reference: it runs
 * alone when this module is not built and whenever a record carries a verification, and
 * tests/report/test_json_attempts.py checks that both write the same text, byte for byte.
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

PyDoc_STRVAR(attempts_json_doc,
"attempts_json(attempts, show_secrets, redacted_json) -> str\n\n"
"The attempt records of one exchange, as JSON text joined by \", \", each with\n"
"``\"verification\": null``: what ``\", \".join(_attempt_json(a, {}, show_secrets) ...)``\n"
"returns. ``redacted_json`` is the quoted text written in place of a secret.");

/* Attribute names, interned once. */
static PyObject *s_request, *s_source, *s_final, *s_retransmissions, *s_responses, *s_frame,
    *s_time, *s_status, *s_file, *s_cseq_number, *s_transport, *s_wire_size, *s_challenges,
    *s_credentials, *s_header, *s_scheme, *s_realm, *s_nonce, *s_algorithm, *s_qop_options,
    *s_opaque, *s_stale, *s_username, *s_uri, *s_qop, *s_nc, *s_response, *s_cnonce;

/* What the Python writer calls: json.encoder.encode_basestring, builtins.round, and 6. */
static PyObject *encode_basestring, *builtin_round, *six_digits;

/* Fixed pieces of text, made once. */
static PyObject *t_empty, *t_null, *t_true, *t_false, *t_quote, *t_comma, *t_nan, *t_inf, *t_neg_inf,
    *t_empty_list, *t_close_brace, *t_close_list, *t_open_list,
    *t_attempt_frame, *t_file, *t_time, *t_cseq, *t_transport, *t_size, *t_retransmissions,
    *t_responses, *t_final_status, *t_challenges, *t_credentials, *t_verification_null,
    *t_response_frame, *t_response_time, *t_response_status,
    *t_challenge_header, *t_scheme, *t_realm, *t_nonce, *t_algorithm, *t_qop_list,
    *t_opaque, *t_stale,
    *t_credentials_header, *t_username, *t_uri, *t_qop, *t_nc, *t_response, *t_cnonce;

/* Appends ``text`` (a new reference, or NULL on error) to ``parts``. */
static int put_new(PyObject *parts, PyObject *text) {
    if (text == NULL) {
        return -1;
    }
    int failed = PyList_Append(parts, text);
    Py_DECREF(text);
    return failed;
}

/* Appends ``text`` (borrowed) to ``parts``. */
static int put(PyObject *parts, PyObject *text) { return PyList_Append(parts, text); }

/* A string as ``encode_basestring`` writes it (ensure_ascii off: only ``"``, ``\`` and
 * U+0000..U+001F are escaped). */
static int put_quoted(PyObject *parts, PyObject *value) {
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
            if (put(parts, t_quote) < 0 || put(parts, value) < 0) {
                return -1;
            }
            return put(parts, t_quote);
        }
    }
    /* Needs escaping, or is not a str: the json module decides (and raises as it would). */
    return put_new(parts, PyObject_CallOneArg(encode_basestring, value));
}

/* ``_json_str``: null, or the quoted string. */
static int put_str_or_null(PyObject *parts, PyObject *value) {
    if (value == Py_None) {
        return put(parts, t_null);
    }
    return put_quoted(parts, value);
}

/* ``int.__repr__(value)``: what it raises for anything but an int, this raises too. */
static int put_int(PyObject *parts, PyObject *value) {
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "expected an int, got %.100s", Py_TYPE(value)->tp_name);
        return -1;
    }
    return put_new(parts, PyLong_Type.tp_repr(value));
}

/* ``_json_int``: null, or the int. */
static int put_int_or_null(PyObject *parts, PyObject *value) {
    if (value == Py_None) {
        return put(parts, t_null);
    }
    return put_int(parts, value);
}

/* ``_json_time``: ``round(epoch, 6)`` as the encoder writes it. */
static int put_time(PyObject *parts, PyObject *epoch) {
    if (epoch == Py_None) {
        return put(parts, t_null);
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
        failed = put(parts, t_nan);
    } else if (isinf(value)) {
        failed = put(parts, value > 0 ? t_inf : t_neg_inf);
    } else {
        failed = put_new(parts, PyFloat_Type.tp_repr(rounded));
    }
    Py_DECREF(rounded);
    return failed;
}

/* ``obj.name`` formatted by ``writer``. */
static int put_attr(PyObject *parts, PyObject *obj, PyObject *name,
                    int (*writer)(PyObject *, PyObject *)) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int failed = writer(parts, value);
    Py_DECREF(value);
    return failed;
}

/* ``str(obj.name)`` quoted: the StrEnum members (header, transport). */
static int put_str_of_attr(PyObject *parts, PyObject *obj, PyObject *name) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    PyObject *text = PyObject_Str(value);
    Py_DECREF(value);
    if (text == NULL) {
        return -1;
    }
    int failed = put_quoted(parts, text);
    Py_DECREF(text);
    return failed;
}

/* A secret (``_json_secret``): null, the quoted value when shown, else ``redacted``. */
static int put_secret(PyObject *parts, PyObject *obj, PyObject *name, int show,
                      PyObject *redacted) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int failed;
    if (value == Py_None) {
        failed = put(parts, t_null);
    } else if (show) {
        failed = put_quoted(parts, value);
    } else {
        failed = put(parts, redacted);
    }
    Py_DECREF(value);
    return failed;
}

/* Calls ``each(parts, item, ...)`` for every item of ``obj.name``, ", " between them. */
typedef int (*ItemWriter)(PyObject *parts, PyObject *item, int show, PyObject *redacted);

static int put_each(PyObject *parts, PyObject *obj, PyObject *name, ItemWriter each, int show,
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
        if (index > 0 && put(parts, t_comma) < 0) {
            failed = -1;
            break;
        }
        failed = each(parts, item[index], show, redacted);
    }
    Py_DECREF(sequence);
    return failed;
}

/* ``m.source.frame`` of a retransmission. */
static int put_retransmission(PyObject *parts, PyObject *message, int show, PyObject *redacted) {
    (void)show;
    (void)redacted;
    PyObject *source = PyObject_GetAttr(message, s_source);
    if (source == NULL) {
        return -1;
    }
    int failed = put_attr(parts, source, s_frame, put_int);
    Py_DECREF(source);
    return failed;
}

/* ``{"frame": …, "time": …, "status": …}`` of a response. */
static int put_response(PyObject *parts, PyObject *response, int show, PyObject *redacted) {
    (void)show;
    (void)redacted;
    PyObject *source = PyObject_GetAttr(response, s_source);
    if (source == NULL) {
        return -1;
    }
    int failed = put(parts, t_response_frame) < 0 || put_attr(parts, source, s_frame, put_int) < 0
        || put(parts, t_response_time) < 0 || put_attr(parts, source, s_time, put_time) < 0
        || put(parts, t_response_status) < 0
        || put_attr(parts, response, s_status, put_int_or_null) < 0
        || put(parts, t_close_brace) < 0;
    Py_DECREF(source);
    return failed ? -1 : 0;
}

static int put_qop_option(PyObject *parts, PyObject *option, int show, PyObject *redacted) {
    (void)show;
    (void)redacted;
    return put_quoted(parts, option);
}

/* One challenge (``_challenges_json``). */
static int put_challenge(PyObject *parts, PyObject *challenge, int show, PyObject *redacted) {
    if (put(parts, t_challenge_header) < 0 || put_str_of_attr(parts, challenge, s_header) < 0
        || put(parts, t_scheme) < 0 || put_attr(parts, challenge, s_scheme, put_quoted) < 0
        || put(parts, t_realm) < 0 || put_attr(parts, challenge, s_realm, put_str_or_null) < 0
        || put(parts, t_nonce) < 0 || put_attr(parts, challenge, s_nonce, put_str_or_null) < 0
        || put(parts, t_algorithm) < 0
        || put_attr(parts, challenge, s_algorithm, put_str_or_null) < 0
        || put(parts, t_qop_list) < 0
        || put_each(parts, challenge, s_qop_options, put_qop_option, show, redacted) < 0
        || put(parts, t_opaque) < 0) {
        return -1;
    }
    PyObject *opaque = PyObject_GetAttr(challenge, s_opaque);
    if (opaque == NULL) {
        return -1;
    }
    const int has_opaque = opaque != Py_None;
    Py_DECREF(opaque);
    if (put(parts, has_opaque ? t_true : t_false) < 0 || put(parts, t_stale) < 0) {
        return -1;
    }
    PyObject *stale = PyObject_GetAttr(challenge, s_stale);
    if (stale == NULL) {
        return -1;
    }
    const int is_stale = PyObject_IsTrue(stale);
    Py_DECREF(stale);
    if (is_stale < 0) {
        return -1;
    }
    return put(parts, is_stale ? t_true : t_false) < 0 || put(parts, t_close_brace) < 0 ? -1 : 0;
}

/* One set of credentials (``_credentials_json``). */
static int put_credentials(PyObject *parts, PyObject *creds, int show, PyObject *redacted) {
    return put(parts, t_credentials_header) < 0 || put_str_of_attr(parts, creds, s_header) < 0
        || put(parts, t_scheme) < 0 || put_attr(parts, creds, s_scheme, put_quoted) < 0
        || put(parts, t_username) < 0 || put_attr(parts, creds, s_username, put_str_or_null) < 0
        || put(parts, t_realm) < 0 || put_attr(parts, creds, s_realm, put_str_or_null) < 0
        || put(parts, t_nonce) < 0 || put_attr(parts, creds, s_nonce, put_str_or_null) < 0
        || put(parts, t_uri) < 0 || put_attr(parts, creds, s_uri, put_str_or_null) < 0
        || put(parts, t_algorithm) < 0 || put_attr(parts, creds, s_algorithm, put_str_or_null) < 0
        || put(parts, t_qop) < 0 || put_attr(parts, creds, s_qop, put_str_or_null) < 0
        || put(parts, t_nc) < 0 || put_attr(parts, creds, s_nc, put_str_or_null) < 0
        || put(parts, t_response) < 0 || put_secret(parts, creds, s_response, show, redacted) < 0
        || put(parts, t_cnonce) < 0 || put_secret(parts, creds, s_cnonce, show, redacted) < 0
        || put(parts, t_close_brace) < 0 ? -1 : 0;
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
static int put_attempt(PyObject *parts, PyObject *attempt, int show, PyObject *redacted) {
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
    if (put(parts, t_attempt_frame) < 0 || put_attr(parts, source, s_frame, put_int) < 0
        || put(parts, t_file) < 0 || put_attr(parts, source, s_file, put_quoted) < 0
        || put(parts, t_time) < 0 || put_attr(parts, source, s_time, put_time) < 0
        || put(parts, t_cseq) < 0 || put_attr(parts, request, s_cseq_number, put_int_or_null) < 0
        || put(parts, t_transport) < 0 || put_str_of_attr(parts, source, s_transport) < 0
        || put(parts, t_size) < 0 || put_attr(parts, source, s_wire_size, put_int) < 0
        || put(parts, t_retransmissions) < 0
        || put_each(parts, attempt, s_retransmissions, put_retransmission, show, redacted) < 0
        || put(parts, t_responses) < 0
        || put_each(parts, attempt, s_responses, put_response, show, redacted) < 0
        || put(parts, t_final_status) < 0) {
        goto done;
    }
    int challenged = 0;
    if (final == Py_None) {
        if (put(parts, t_null) < 0) {
            goto done;
        }
    } else {
        if (put_attr(parts, final, s_status, put_int_or_null) < 0) {
            goto done;
        }
        challenged = is_challenge(final);
        if (challenged < 0) {
            goto done;
        }
    }
    if (put(parts, t_challenges) < 0) {
        goto done;
    }
    if (challenged) {
        if (put(parts, t_open_list) < 0
            || put_each(parts, final, s_challenges, put_challenge, show, redacted) < 0
            || put(parts, t_close_list) < 0) {
            goto done;
        }
    } else if (put(parts, t_empty_list) < 0) {
        goto done;
    }
    if (put(parts, t_credentials) < 0 || put(parts, t_open_list) < 0
        || put_each(parts, request, s_credentials, put_credentials, show, redacted) < 0
        || put(parts, t_close_list) < 0 || put(parts, t_verification_null) < 0) {
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
    PyObject *parts = PyList_New(0);
    if (parts == NULL) {
        Py_DECREF(attempts);
        return NULL;
    }
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(attempts);
    PyObject **item = PySequence_Fast_ITEMS(attempts);
    PyObject *text = NULL;
    for (Py_ssize_t index = 0; index < count; index++) {
        if ((index > 0 && put(parts, t_comma) < 0)
            || put_attempt(parts, item[index], show, redacted) < 0) {
            goto done;
        }
    }
    text = PyUnicode_Join(t_empty, parts);
done:
    Py_DECREF(parts);
    Py_DECREF(attempts);
    return text;
}

static PyMethodDef methods[] = {
    {"attempts_json", (PyCFunction)(void (*)(void))attempts_json, METH_FASTCALL,
     attempts_json_doc},
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
        {&t_empty, ""}, {&t_null, "null"}, {&t_true, "true"}, {&t_false, "false"}, {&t_quote, "\""},
        {&t_comma, ", "}, {&t_nan, "NaN"}, {&t_inf, "Infinity"}, {&t_neg_inf, "-Infinity"},
        {&t_empty_list, "[]"}, {&t_close_brace, "}"}, {&t_close_list, "]"},
        {&t_open_list, "["},
        {&t_attempt_frame, "{\"frame\": "}, {&t_file, ", \"file\": "},
        {&t_time, ", \"time\": "}, {&t_cseq, ", \"cseq\": "},
        {&t_transport, ", \"transport\": "}, {&t_size, ", \"size\": "},
        {&t_retransmissions, ", \"retransmission_frames\": ["},
        {&t_responses, "], \"responses\": ["}, {&t_final_status, "], \"final_status\": "},
        {&t_challenges, ", \"challenges\": "}, {&t_credentials, ", \"credentials\": "},
        {&t_verification_null, ", \"verification\": null}"},
        {&t_response_frame, "{\"frame\": "}, {&t_response_time, ", \"time\": "},
        {&t_response_status, ", \"status\": "},
        {&t_challenge_header, "{\"header\": "}, {&t_scheme, ", \"scheme\": "},
        {&t_realm, ", \"realm\": "}, {&t_nonce, ", \"nonce\": "},
        {&t_algorithm, ", \"algorithm\": "}, {&t_qop_list, ", \"qop\": ["},
        {&t_opaque, "], \"opaque\": "}, {&t_stale, ", \"stale\": "},
        {&t_credentials_header, "{\"header\": "}, {&t_username, ", \"username\": "},
        {&t_uri, ", \"uri\": "}, {&t_qop, ", \"qop\": "}, {&t_nc, ", \"nc\": "},
        {&t_response, ", \"response\": "}, {&t_cnonce, ", \"cnonce\": "},
    };
    for (size_t index = 0; index < sizeof names / sizeof names[0]; index++) {
        *names[index].slot = PyUnicode_InternFromString(names[index].text);
        if (*names[index].slot == NULL) {
            return -1;
        }
    }
    return 0;
}

static int module_exec(PyObject *module) {
    (void)module;
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
    six_digits = PyLong_FromLong(6);
    return encode_basestring == NULL || builtin_round == NULL || six_digits == NULL ? -1 : 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_jsontext",
    "The JSON report's attempt records in C (see report/json_report.py).", 0, methods, slots,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jsontext(void) { return PyModuleDef_Init(&module_def); }
