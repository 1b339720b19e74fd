/* iterft_texts: the validator's per-record text rules in C (docs/dataset-validation.md, "Speed").
 *
 * The fast path (lambda/iterft_runtime/logic/validation_fast.py) decodes a record with msgspec, in C, and
 * is left with its texts: none may be empty or only whitespace, none may hold one of the family's
 * reserved tokens, and the record needs a fixed-size digest to find duplicates. In Python those cost
 * about as much as decoding a record (an occurrence of `:` checked at ~180 ns, SipHash over every text);
 * here they cost a memchr over each text and a hash at several bytes a cycle.
 *
 * scan(texts, seed) answers exactly what the fallback in validation_fast (PythonTextRules) answers: None
 * when a text is empty, only whitespace (str.isspace) or holds a reserved token, else the texts'
 * characters and a digest. The digest is XXH64 (xxHash's 64-bit function, by its specification) of each
 * text's code units in CPython's representation, chained: h = XXH64(units, h ^ kind), from `seed`. CPython
 * stores every str in the narrowest kind its characters fit, so texts equal as strings have equal units
 * and equal digests; tests/unit/test_validation_native.py checks it against the xxhash package.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t read64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if PY_BIG_ENDIAN
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t read32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if PY_BIG_ENDIAN
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t input) {
    acc += input * P2;
    return rotl(acc, 31) * P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t value) {
    acc ^= xxh_round(0, value);
    return acc * P1 + P4;
}

static uint64_t xxh64(const unsigned char *p, size_t len, uint64_t seed) {
    const unsigned char *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        const unsigned char *limit = end - 32;
        do {
            v1 = xxh_round(v1, read64(p));
            v2 = xxh_round(v2, read64(p + 8));
            v3 = xxh_round(v3, read64(p + 16));
            v4 = xxh_round(v4, read64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)len;
    for (; p + 8 <= end; p += 8) h = rotl(h ^ xxh_round(0, read64(p)), 27) * P1 + P4;
    if (p + 4 <= end) {
        h = rotl(h ^ (uint64_t)read32(p) * P1, 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++) h = rotl(h ^ (*p) * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* The reserved tokens, grouped by their last character: a text is searched for each group's last
 * character only, and an occurrence checked against the group's tokens ending there. */
typedef struct {
    Py_UCS4 last;
    Py_ssize_t first, count; /* the group's tokens: tokens[first .. first + count) */
} Group;

typedef struct {
    PyObject_HEAD
    PyObject *tokens; /* a tuple of str, grouped */
    Group *groups;
    Py_ssize_t ngroups;
} TextRules;

/* The first index >= from where `text` has the character c, else -1: memchr for its low byte, each hit
 * confirmed (in 2- and 4-byte kinds, other characters share that byte). */
static Py_ssize_t find_char(int kind, const void *data, Py_ssize_t length, Py_ssize_t from, Py_UCS4 c) {
    const unsigned char *bytes = data;
    if (kind == PyUnicode_1BYTE_KIND) {
        if (c > 0xFF || from >= length) return -1;
        const unsigned char *hit = memchr(bytes + from, (int)c, (size_t)(length - from));
        return hit ? hit - bytes : -1;
    }
    unsigned char low = (unsigned char)(c & 0xFF);
    if (low == 0) {
        for (Py_ssize_t i = from; i < length; i++)
            if (PyUnicode_READ(kind, data, i) == c) return i;
        return -1;
    }
    Py_ssize_t lane = PY_LITTLE_ENDIAN ? 0 : kind - 1; /* where a unit's low byte is */
    Py_ssize_t at = from * kind, end = length * kind;
    while (at < end) {
        const unsigned char *hit = memchr(bytes + at, low, (size_t)(end - at));
        if (!hit) return -1;
        Py_ssize_t offset = hit - bytes;
        if (offset % kind == lane && PyUnicode_READ(kind, data, offset / kind) == c) return offset / kind;
        at = offset + 1;
    }
    return -1;
}

static int ends_with(int kind, const void *data, Py_ssize_t at, PyObject *token) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(token);
    if (length > at + 1) return 0;
    int token_kind = PyUnicode_KIND(token);
    const void *token_data = PyUnicode_DATA(token);
    Py_ssize_t start = at + 1 - length;
    for (Py_ssize_t j = 0; j < length; j++)
        if (PyUnicode_READ(kind, data, start + j) != PyUnicode_READ(token_kind, token_data, j)) return 0;
    return 1;
}

static int holds_reserved(TextRules *rules, int kind, const void *data, Py_ssize_t length) {
    for (Py_ssize_t g = 0; g < rules->ngroups; g++) {
        const Group *group = &rules->groups[g];
        for (Py_ssize_t at = find_char(kind, data, length, 0, group->last); at >= 0;
             at = find_char(kind, data, length, at + 1, group->last)) {
            for (Py_ssize_t t = group->first; t < group->first + group->count; t++)
                if (ends_with(kind, data, at, PyTuple_GET_ITEM(rules->tokens, t))) return 1;
        }
    }
    return 0;
}

static int blank(int kind, const void *data, Py_ssize_t length) {
    for (Py_ssize_t i = 0; i < length; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) return 0;
    return 1; /* empty, or whitespace only */
}

static int TextRules_init(TextRules *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"reserved", NULL};
    PyObject *given;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:TextRules", keywords, &given)) return -1;
    PyObject *tokens = PySequence_Tuple(given);
    if (!tokens) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(tokens);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyTuple_GET_ITEM(tokens, i);
        if (!PyUnicode_Check(token) || PyUnicode_GET_LENGTH(token) == 0) {
            Py_DECREF(tokens);
            PyErr_SetString(PyExc_TypeError, "TextRules: reserved tokens must be non-empty str");
            return -1;
        }
    }
    /* Group by last character: a stable order of first appearance, each group's tokens together. */
    PyObject *grouped = PyTuple_New(n);
    Group *groups = n ? PyMem_Calloc((size_t)n, sizeof(Group)) : NULL;
    if (!grouped || (n && !groups)) {
        Py_DECREF(tokens);
        Py_XDECREF(grouped);
        PyMem_Free(groups);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t ngroups = 0, placed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyTuple_GET_ITEM(tokens, i);
        Py_UCS4 last = PyUnicode_READ_CHAR(token, PyUnicode_GET_LENGTH(token) - 1);
        int known = 0;
        for (Py_ssize_t g = 0; g < ngroups; g++) known |= groups[g].last == last;
        if (known) continue;
        groups[ngroups] = (Group){.last = last, .first = placed, .count = 0};
        for (Py_ssize_t j = i; j < n; j++) {
            PyObject *other = PyTuple_GET_ITEM(tokens, j);
            if (PyUnicode_READ_CHAR(other, PyUnicode_GET_LENGTH(other) - 1) != last) continue;
            Py_INCREF(other);
            PyTuple_SET_ITEM(grouped, placed++, other);
            groups[ngroups].count++;
        }
        ngroups++;
    }
    Py_DECREF(tokens);
    Py_XSETREF(self->tokens, grouped);
    PyMem_Free(self->groups);
    self->groups = groups;
    self->ngroups = ngroups;
    return 0;
}

static void TextRules_dealloc(TextRules *self) {
    Py_XDECREF(self->tokens);
    PyMem_Free(self->groups);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(scan_doc,
             "scan(texts: list[str], seed: int) -> tuple[int, int] | None: None when a text is empty, only "
             "whitespace or holds a reserved token; else (the texts' characters, their digest from seed)");

static PyObject *TextRules_scan(TextRules *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!self->tokens) {
        PyErr_SetString(PyExc_RuntimeError, "TextRules is not initialised");
        return NULL;
    }
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "scan takes texts and seed");
        return NULL;
    }
    PyObject *texts = args[0];
    if (!PyList_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "texts must be a list of str");
        return NULL;
    }
    uint64_t digest = (uint64_t)PyLong_AsUnsignedLongLongMask(args[1]);
    if (digest == (uint64_t)-1 && PyErr_Occurred()) return NULL;
    Py_ssize_t chars = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(texts); i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "texts must be a list of str");
            return NULL;
        }
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        Py_ssize_t length = PyUnicode_GET_LENGTH(text);
        if (blank(kind, data, length) || holds_reserved(self, kind, data, length)) Py_RETURN_NONE;
        chars += length;
        digest = xxh64(data, (size_t)(length * kind), digest ^ (uint64_t)kind);
    }
    return Py_BuildValue("(nK)", chars, (unsigned long long)digest);
}

static PyMethodDef TextRules_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))TextRules_scan, METH_FASTCALL, scan_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TextRulesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "iterft_texts.TextRules",
    .tp_doc = PyDoc_STR("TextRules(reserved): a family's reserved tokens, and its texts' rules and digest"),
    .tp_basicsize = sizeof(TextRules),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)TextRules_init,
    .tp_dealloc = (destructor)TextRules_dealloc,
    .tp_methods = TextRules_methods,
};

PyDoc_STRVAR(xxh64_doc, "xxh64(data: bytes, seed: int) -> int: XXH64 of data (for tests)");

static PyObject *texts_xxh64(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "xxh64 takes data and seed");
        return NULL;
    }
    uint64_t seed = (uint64_t)PyLong_AsUnsignedLongLongMask(args[1]);
    if (seed == (uint64_t)-1 && PyErr_Occurred()) return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t h = xxh64(view.buf, (size_t)view.len, seed);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(h);
}

static PyMethodDef module_methods[] = {
    {"xxh64", (PyCFunction)(void (*)(void))texts_xxh64, METH_FASTCALL, xxh64_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef texts_module = {
    PyModuleDef_HEAD_INIT, "iterft_texts", "The validator's per-record text rules in C (native/texts.c).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit_iterft_texts(void) {
    if (PyType_Ready(&TextRulesType) < 0) return NULL;
    PyObject *module = PyModule_Create(&texts_module);
    if (!module) return NULL;
    Py_INCREF(&TextRulesType);
    if (PyModule_AddObject(module, "TextRules", (PyObject *)&TextRulesType) < 0) {
        Py_DECREF(&TextRulesType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
