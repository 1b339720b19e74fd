/* iterft_texts: the validator's per-record text rules in C (docs/dataset-validation.md, "Texts in C").
 *
 * The fast path (lambda/iterft_runtime/logic/validation_fast.py) decodes a record with msgspec, in C, and
 * is left with what no decoder says: the turns alternate, no text is empty or only whitespace, none holds
 * one of the family's reserved tokens, the token estimate, and a fixed-size digest to find duplicates. In
 * Python those cost about as much as decoding a record (a comprehension over the turns, an occurrence of
 * `:` checked at ~180 ns, SipHash over every text, str.count over a long text); here, attribute reads, a
 * memchr over each text, a hash at ~10 GB/s and a vectorised word count.
 *
 * Each method answers exactly what the fallback in validation_fast (PythonTextRules) answers, but for the
 * digest, which is only compared within a run: scan(texts, seed) and conversation(messages, system) are
 * None when a text is empty, only whitespace (str.isspace) or holds a reserved token (and, for a
 * conversation, when its roles are not user, assistant, ..., assistant), else the texts' characters and a
 * digest; estimate(texts, escaped) is the exact path's token estimate. The digest is XXH64 (xxHash's
 * 64-bit function, by its specification) of each text's code units in CPython's representation, chained:
 * h = XXH64(units, h ^ kind), from `seed` (a conversation's then mixes in its blocks a turn and its
 * system's). CPython stores every str in the narrowest kind its characters fit, so texts equal as strings
 * have equal units and equal digests. tests/unit/test_validation_native.py compares every method with
 * PythonTextRules or the exact path on arbitrary text, and the hash with the xxhash package.
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
    for (; end - p >= 8; p += 8) h = rotl(h ^ xxh_round(0, read64(p)), 27) * P1 + P4;
    if (end - p >= 4) {
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
    Py_ssize_t max_turns; /* the longest conversation `conversation` takes */
    uint64_t key;         /* every digest starts from it: random a run (Python's), so nobody who writes a
                             record can aim its digest at another's (XXH64 with a known seed is invertible) */
} TextRules;

static PyObject *ROLE, *CONTENT, *TEXT; /* attribute names, interned */

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
    static char *keywords[] = {"reserved", "max_turns", "key", NULL};
    PyObject *given, *key;
    Py_ssize_t max_turns;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnO:TextRules", keywords, &given, &max_turns, &key)) return -1;
    uint64_t key_value = (uint64_t)PyLong_AsUnsignedLongLongMask(key);
    if (key_value == (uint64_t)-1 && PyErr_Occurred()) return -1;
    if (max_turns < 2) {
        PyErr_SetString(PyExc_ValueError, "TextRules: max_turns must be 2 or more");
        return -1;
    }
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
        if (PyUnicode_FindChar(token, 0, 0, PyUnicode_GET_LENGTH(token), 1) != -1) {
            Py_DECREF(tokens);
            PyErr_SetString(PyExc_ValueError, "TextRules: a reserved token may not hold \"\\0\"");
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
    self->max_turns = max_turns;
    self->key = key_value;
    return 0;
}

static void TextRules_dealloc(TextRules *self) {
    Py_XDECREF(self->tokens);
    PyMem_Free(self->groups);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Whether a character of a 1-byte string is whitespace (str.isspace: 0x09-0x0D, 0x1C-0x20, 0x85, 0xA0),
 * in arithmetic the compiler can vectorise, not a table. */
static inline int latin1_space(unsigned char c) {
    return ((unsigned char)(c - 0x09) < 5) | ((unsigned char)(c - 0x1C) < 5) | (c == 0x85) | (c == 0xA0);
}

/* len(text.split()), without the list: a word starts at a character that is not whitespace, first or
 * after one that is. */
static Py_ssize_t count_words(PyObject *text) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), words = 0;
    if (length == 0) return 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        const unsigned char *bytes = data;
        words = !latin1_space(bytes[0]);
        for (Py_ssize_t start = 1; start < length; start += 255) { /* byte counts, which vectorise widest */
            Py_ssize_t end = start + 255 < length ? start + 255 : length;
            unsigned char starts = 0;
            for (Py_ssize_t i = start; i < end; i++) starts += latin1_space(bytes[i - 1]) & !latin1_space(bytes[i]);
            words += starts;
        }
        return words;
    }
    int before = 1;
    for (Py_ssize_t i = 0; i < length; i++) {
        int space = Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)) != 0;
        words += before & !space;
        before = space;
    }
    return words;
}

static int is_str(PyObject *text) {
    if (PyUnicode_Check(text)) return 1;
    PyErr_Format(PyExc_TypeError, "a text must be str, not %.100s", Py_TYPE(text)->tp_name);
    return 0;
}

typedef struct {
    Py_ssize_t chars;
    uint64_t digest;
} Scan;

/* One text into `scan`: 1, or 0 when it is blank or holds a reserved token, or -1 (an error). */
static int take(TextRules *self, PyObject *text, Scan *scan) {
    if (!is_str(text)) return -1;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (blank(kind, data, length) || holds_reserved(self, kind, data, length)) return 0;
    scan->chars += length;
    scan->digest = xxh64(data, (size_t)(length * kind), scan->digest ^ (uint64_t)kind);
    return 1;
}

static PyObject *scanned(const Scan *scan) {
    return Py_BuildValue("(nK)", scan->chars, (unsigned long long)scan->digest);
}

/* Whether `self` is initialised and given two arguments; else an exception (`usage` for the arguments). */
static int ready(TextRules *self, Py_ssize_t nargs, const char *usage) {
    if (!self->tokens) {
        PyErr_SetString(PyExc_RuntimeError, "TextRules is not initialised");
        return 0;
    }
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, usage);
        return 0;
    }
    return 1;
}

/* A digest closed with the number of texts it chained: one record's chain is never the start of
 * another's. */
static uint64_t closed(uint64_t digest, Py_ssize_t count) { return xxh_merge(digest, (uint64_t)count); }

PyDoc_STRVAR(scan_doc,
             "scan(texts: list[str], seed: int) -> tuple[int, int] | None: None when a text is empty, only "
             "whitespace or holds a reserved token; else (the texts' characters, their digest from seed)");

static PyObject *TextRules_scan(TextRules *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!ready(self, nargs, "scan takes texts and seed")) return NULL;
    PyObject *texts = args[0];
    if (!PyList_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "texts must be a list of str");
        return NULL;
    }
    uint64_t seed = (uint64_t)PyLong_AsUnsignedLongLongMask(args[1]);
    if (seed == (uint64_t)-1 && PyErr_Occurred()) return NULL;
    Scan scan = {.digest = xxh_merge(self->key, seed)};
    Py_ssize_t count = PyList_GET_SIZE(texts);
    for (Py_ssize_t i = 0; i < count; i++) {
        int taken = take(self, PyList_GET_ITEM(texts, i), &scan); /* str: no Python code runs */
        if (taken < 0) return NULL;
        if (!taken) Py_RETURN_NONE;
    }
    scan.digest = closed(scan.digest, count);
    return scanned(&scan);
}

/* The `.text` of each block of the list `blocks` into `scan`: as take. A block is held while read (an
 * attribute read may run Python code, which may change the list). */
static int take_blocks(TextRules *self, PyObject *blocks, Scan *scan) {
    if (!PyList_Check(blocks)) {
        PyErr_SetString(PyExc_TypeError, "a turn's content must be a list");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(blocks); i++) {
        PyObject *block = PyList_GET_ITEM(blocks, i);
        Py_INCREF(block);
        PyObject *text = PyObject_GetAttr(block, TEXT);
        Py_DECREF(block);
        if (!text) return -1;
        int taken = take(self, text, scan);
        Py_DECREF(text);
        if (taken <= 0) return taken;
    }
    return 1;
}

static int is_ascii(PyObject *value, const char *expected) {
    size_t length = strlen(expected);
    return PyUnicode_Check(value) && PyUnicode_IS_ASCII(value) && (size_t)PyUnicode_GET_LENGTH(value) == length &&
           memcmp(PyUnicode_1BYTE_DATA(value), expected, length) == 0;
}

PyDoc_STRVAR(conversation_doc,
             "conversation(messages: list, system: list | None) -> tuple[int, int] | None: a conversation's "
             "turns (`.role`, `.content`: blocks with `.text`) and system blocks (None: no system); None "
             "unless the roles are user, assistant, ... ending with assistant (2 to max_turns turns) and scan "
             "passes every text (turns' blocks in order, then the system's); else (characters, digest), the "
             "digest of the texts and the blocks a turn and system blocks");

static PyObject *TextRules_conversation(TextRules *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!ready(self, nargs, "conversation takes messages and system")) return NULL;
    PyObject *messages = args[0], *system = args[1];
    if (!PyList_Check(messages)) {
        PyErr_SetString(PyExc_TypeError, "messages must be a list");
        return NULL;
    }
    if (system != Py_None && !PyList_Check(system)) {
        PyErr_SetString(PyExc_TypeError, "system must be a list or None");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(messages);
    if (count < 2 || count % 2 || count > self->max_turns) Py_RETURN_NONE;
    /* Each turn is held while read, and the list's size checked each time: an attribute read may run
     * Python code (not a msgspec Struct's), which may change the lists. */
    Scan scan = {.digest = self->key};
    uint64_t shape = P5; /* the blocks of each turn, then the system's, mixed by xxHash's round */
    Py_ssize_t texts = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(messages); i++) {
        PyObject *turn = PyList_GET_ITEM(messages, i);
        Py_INCREF(turn);
        PyObject *role = PyObject_GetAttr(turn, ROLE);
        PyObject *content = role ? PyObject_GetAttr(turn, CONTENT) : NULL;
        Py_DECREF(turn);
        if (!content) {
            Py_XDECREF(role);
            return NULL;
        }
        int expected = is_ascii(role, i % 2 ? "assistant" : "user");
        Py_DECREF(role);
        Py_ssize_t blocks = PyList_Check(content) ? PyList_GET_SIZE(content) : 0;
        int taken = expected ? take_blocks(self, content, &scan) : 0;
        Py_DECREF(content);
        if (taken < 0) return NULL;
        if (!taken) Py_RETURN_NONE;
        shape = xxh_round(shape, (uint64_t)blocks);
        texts += blocks;
    }
    if (PyList_GET_SIZE(messages) != count) Py_RETURN_NONE; /* changed while read */
    uint64_t head = (uint64_t)-1; /* no system */
    if (system != Py_None) {
        head = (uint64_t)PyList_GET_SIZE(system);
        int taken = take_blocks(self, system, &scan);
        if (taken < 0) return NULL;
        if (!taken) Py_RETURN_NONE;
        texts += (Py_ssize_t)head;
    }
    scan.digest = closed(xxh_merge(xxh_merge(scan.digest, shape), head), texts);
    return scanned(&scan);
}

PyDoc_STRVAR(words_doc, "words(text: str) -> int: len(text.split()), as estimate counts them (for tests)");

static PyObject *TextRules_words(TextRules *self, PyObject *text) {
    return is_str(text) ? PyLong_FromSsize_t(count_words(text)) : NULL;
}

PyDoc_STRVAR(estimate_doc,
             "estimate(texts: list[str], escaped: int) -> int: the exact path's token estimate of texts, each "
             "ceil(max(characters / 3, words x 1.5)); escaped is not needed here (counting words costs less "
             "than Python's bound on them, which reads it)");

static PyObject *TextRules_estimate(TextRules *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "estimate takes texts (a list of str) and escaped");
        return NULL;
    }
    Py_ssize_t tokens = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(args[0]); i++) {
        PyObject *text = PyList_GET_ITEM(args[0], i);
        if (!is_str(text)) return NULL;
        Py_ssize_t by_chars = (PyUnicode_GET_LENGTH(text) + 2) / 3, by_words = (3 * count_words(text) + 1) / 2;
        tokens += by_chars > by_words ? by_chars : by_words;
    }
    return PyLong_FromSsize_t(tokens);
}

static PyMethodDef TextRules_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))TextRules_scan, METH_FASTCALL, scan_doc},
    {"conversation", (PyCFunction)(void (*)(void))TextRules_conversation, METH_FASTCALL, conversation_doc},
    {"words", (PyCFunction)TextRules_words, METH_O, words_doc},
    {"estimate", (PyCFunction)(void (*)(void))TextRules_estimate, METH_FASTCALL, estimate_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TextRulesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "iterft_texts.TextRules",
    .tp_doc = PyDoc_STR("TextRules(reserved, max_turns, key): a family's reserved tokens, and its texts' rules "
                        "and digest (from key)"),
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
    ROLE = PyUnicode_InternFromString("role");
    CONTENT = PyUnicode_InternFromString("content");
    TEXT = PyUnicode_InternFromString("text");
    if (!ROLE || !CONTENT || !TEXT || PyType_Ready(&TextRulesType) < 0) return NULL;
    PyObject *module = PyModule_Create(&texts_module);
    if (!module) return NULL;
    Py_INCREF(&TextRulesType);
    /* Raised with every change the Python side relies on (lambda/iterft_runtime/logic/native.py). */
    if (PyModule_AddIntConstant(module, "INTERFACE", 1) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddObject(module, "TextRules", (PyObject *)&TextRulesType) < 0) {
        Py_DECREF(&TextRulesType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
