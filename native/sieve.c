/* iterft_sieve: the leakage check's batch filter in C (docs/dataset-validation.md, "Leakage check").
 *
 * LeakageIndex (lambda/iterft_runtime/logic/leakage.py) decides every match exactly; this only rules out,
 * cheaply, the texts that cannot match, which are nearly all of them. Python costs about a tenth of a
 * microsecond a word to split, hash and look up a shingle; here it is a few nanoseconds a character.
 *
 * Words: the text is cut at ASCII characters that are not letters, digits or `_`; an ASCII word is
 * lower-cased here, a word with any other character is normalised by the Python callable given (the
 * module's normalised_words: NFKC, casefold, ...; cached), which may make it no word or several. That is
 * normalised_words of the whole text, word for word (its normalisation never joins across an ASCII
 * separator; tests/unit/test_logic_leakage_native.py checks it on arbitrary text).
 *
 * Shingles: `size` consecutive word hashes (64-bit FNV-1a of the word's UTF-8), mixed into one 64-bit
 * value; the evaluation prompts' are in an open-addressing table. A text is ruled out when more of its
 * distinct shingles are missing from the table than a match allows: with D distinct shingles a match
 * misses at most D - ceil(tD), and D is at most the text's positions and at most `bound` (the largest
 * evaluation prompt's shingles / t, computed by Python). A text of fewer words than a shingle is one
 * shingle, its whole words, and can only equal a short evaluation prompt. A hash collision can only make
 * a shingle look shared or two look one, which rules out less, never more: the filter never drops a
 * text that matches (tests/unit/test_logic_leakage.py compares it with a brute-force comparison).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL
#define MAX_SIZE 8       /* the most words a shingle has (leakage.shingle_words is 1 to 5) */
#define MAX_CACHED 100000 /* non-ASCII words whose normalisation is kept */

static unsigned char FOLD[128]; /* an ASCII character's byte in a word, 0 for a separator */

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t nonzero(uint64_t h) { return h ? h : 1; } /* 0 marks an empty slot */

typedef struct {
    PyObject_HEAD
    uint64_t *table; /* the evaluation prompts' shingles (and short prompts' whole words) */
    uint64_t mask;
    uint64_t *bloom; /* two bits a table entry, about 8 bits an entry: a look-up that misses (most do)
                        reads this, small enough for the cache, and not the table */
    uint64_t bloom_mask;
    uint64_t *seen; /* one text's distinct shingles, and the slots it filled */
    uint64_t seen_mask;
    uint64_t *used;
    Py_ssize_t nused;
    int size;
    long long num, den, bound;
    PyObject *normalise; /* str -> list[bytes] */
    PyObject *cache;     /* non-ASCII word (str) -> its words' hashes, packed in bytes */
} Sieve;

static inline long long needed(const Sieve *s, long long n) { return (s->num * n + s->den - 1) / s->den; }
static inline long long slack(const Sieve *s, long long n) { return n - needed(s, n); }

static int has(const uint64_t *t, uint64_t mask, uint64_t h) {
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        if (t[i] == h) return 1;
        if (!t[i]) return 0;
    }
}

static void add(uint64_t *t, uint64_t mask, uint64_t h) {
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        if (t[i] == h) return;
        if (!t[i]) { t[i] = h; return; }
    }
}

static inline uint64_t bloom_bit(const Sieve *s, uint64_t h, int which) {
    return (which ? h >> 40 : h >> 8) & s->bloom_mask;
}

static void insert(Sieve *s, uint64_t h) {
    add(s->table, s->mask, h);
    for (int which = 0; which < 2; which++) {
        uint64_t bit = bloom_bit(s, h, which);
        s->bloom[bit >> 6] |= 1ULL << (bit & 63);
    }
}

static int held(const Sieve *s, uint64_t h) {
    for (int which = 0; which < 2; which++) {
        uint64_t bit = bloom_bit(s, h, which);
        if (!(s->bloom[bit >> 6] & (1ULL << (bit & 63)))) return 0;
    }
    return has(s->table, s->mask, h);
}

static int add_seen(Sieve *s, uint64_t h) { /* 1 when new */
    for (uint64_t i = h & s->seen_mask;; i = (i + 1) & s->seen_mask) {
        if (s->seen[i] == h) return 0;
        if (!s->seen[i]) { s->seen[i] = h; s->used[s->nused++] = i; return 1; }
    }
}

static uint64_t fnv(const char *p, Py_ssize_t n) {
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= FNV_PRIME; }
    return h;
}

/* The word hashes of the non-ASCII word text[start:end], normalised by Python once. New reference. */
static PyObject *unicode_words(Sieve *s, PyObject *text, Py_ssize_t start, Py_ssize_t end) {
    PyObject *key = PyUnicode_Substring(text, start, end);
    if (!key) return NULL;
    PyObject *packed = PyDict_GetItemWithError(s->cache, key);
    if (packed) { Py_INCREF(packed); Py_DECREF(key); return packed; }
    if (PyErr_Occurred()) { Py_DECREF(key); return NULL; }
    PyObject *words = PyObject_CallOneArg(s->normalise, key);
    if (!words || !PyList_Check(words)) {
        if (words) PyErr_SetString(PyExc_TypeError, "normalise must return a list of bytes");
        Py_XDECREF(words); Py_DECREF(key);
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(words);
    packed = PyBytes_FromStringAndSize(NULL, count * 8);
    if (!packed) { Py_DECREF(words); Py_DECREF(key); return NULL; }
    uint64_t *hashes = (uint64_t *)PyBytes_AS_STRING(packed);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *word = PyList_GET_ITEM(words, i);
        if (!PyBytes_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "normalise must return a list of bytes");
            Py_DECREF(packed); Py_DECREF(words); Py_DECREF(key);
            return NULL;
        }
        hashes[i] = fnv(PyBytes_AS_STRING(word), PyBytes_GET_SIZE(word));
    }
    Py_DECREF(words);
    if (PyDict_GET_SIZE(s->cache) >= MAX_CACHED) PyDict_Clear(s->cache);
    int failed = PyDict_SetItem(s->cache, key, packed) < 0;
    Py_DECREF(key);
    if (failed) { Py_DECREF(packed); return NULL; }
    return packed;
}

/* One text's walk: its last MAX_SIZE word hashes, its words so far, distinct shingles and misses. */
typedef struct {
    Sieve *s;
    uint64_t ring[MAX_SIZE];
    long long words, distinct, misses;
    int out;        /* ruled out */
    PyObject *hashes; /* word_hashes: the list the words' hashes go to */
} Walk;

typedef int (*on_word)(Walk *walk, uint64_t hash); /* nonzero: stop reading the text */

/* Calls `step` with each normalised word's hash of `text` until it returns nonzero; -1 on an error. */
static int read_words(Walk *walk, PyObject *text, on_word step) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "texts must be str"); return -1; }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return -1;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128 && !FOLD[c]) { i++; continue; }
        Py_ssize_t start = i;
        int ascii = 1;
        uint64_t h = FNV_OFFSET;
        for (; i < n; i++) {
            c = PyUnicode_READ(kind, data, i);
            if (c >= 128) ascii = 0;
            else if (!FOLD[c]) break;
            else { h ^= FOLD[c]; h *= FNV_PRIME; }
        }
        if (ascii) {
            if (step(walk, h)) return 0;
            continue;
        }
        PyObject *packed = unicode_words(walk->s, text, start, i);
        if (!packed) return -1;
        const uint64_t *hashes = (const uint64_t *)PyBytes_AS_STRING(packed);
        Py_ssize_t count = PyBytes_GET_SIZE(packed) / 8;
        int stop = 0;
        for (Py_ssize_t k = 0; k < count && !stop; k++) stop = step(walk, hashes[k]);
        Py_DECREF(packed);
        if (stop) return 0;
    }
    return 0;
}

static inline void push(Walk *walk, uint64_t hash) { walk->ring[walk->words++ % MAX_SIZE] = hash; }

static uint64_t last_shingle(const Walk *walk) {
    int size = walk->s->size;
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < size; k++) h = mix(h ^ walk->ring[(walk->words - size + k) % MAX_SIZE]) + (uint64_t)k;
    return nonzero(h);
}

static uint64_t whole_words(const Walk *walk) { /* fewer words than a shingle: all of them */
    uint64_t h = 0x7F4A7C159E3779B9ULL ^ (uint64_t)walk->words;
    for (long long k = 0; k < walk->words; k++) h = mix(h ^ walk->ring[k]) + (uint64_t)k;
    return nonzero(h);
}

static int index_word(Walk *walk, uint64_t hash) {
    push(walk, hash);
    if (walk->words >= walk->s->size) insert(walk->s, last_shingle(walk));
    return 0;
}

static int sift_word(Walk *walk, uint64_t hash) {
    Sieve *s = walk->s;
    push(walk, hash);
    if (walk->words < s->size) return 0;
    uint64_t shingle = last_shingle(walk);
    if (!add_seen(s, shingle)) return 0;
    if (++walk->distinct > s->bound) { walk->out = 1; return 1; } /* more than any match has */
    if (!held(s, shingle) && ++walk->misses > slack(s, s->bound)) { walk->out = 1; return 1; }
    return 0;
}

static int collect_word(Walk *walk, uint64_t hash) {
    PyObject *value = PyLong_FromUnsignedLongLong(hash);
    int failed = !value || PyList_Append(walk->hashes, value) < 0;
    Py_XDECREF(value);
    return failed; /* stops the walk; the error is set */
}

static void Sieve_dealloc(Sieve *s) {
    PyMem_Free(s->table);
    PyMem_Free(s->bloom);
    PyMem_Free(s->seen);
    PyMem_Free(s->used);
    Py_XDECREF(s->normalise);
    Py_XDECREF(s->cache);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int Sieve_init(Sieve *s, PyObject *args, PyObject *kwargs) {
    PyObject *prompts, *normalise;
    int size;
    long long num, den, bound;
    Py_ssize_t capacity;
    static char *names[] = {"prompts", "size", "num", "den", "bound", "capacity", "normalise", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OiLLLnO:Sieve", names, &prompts, &size, &num, &den, &bound,
                                     &capacity, &normalise))
        return -1;
    if (size < 1 || size > MAX_SIZE || num < 1 || den < num || bound < 0 || capacity < 0) {
        PyErr_SetString(PyExc_ValueError, "Sieve: size 1 to 8, 0 < num / den <= 1, bound and capacity >= 0");
        return -1;
    }
    if (s->table) { PyErr_SetString(PyExc_RuntimeError, "Sieve is initialised once"); return -1; }
    s->size = size; s->num = num; s->den = den; s->bound = bound;
    Py_INCREF(normalise);
    s->normalise = normalise;
    if (!(s->cache = PyDict_New())) return -1;
    uint64_t slots = 16, seen = 16, bits = 512;
    while (slots < (uint64_t)capacity * 2 + 16) slots <<= 1;
    while (bits < (uint64_t)capacity * 8) bits <<= 1;
    while (seen < (uint64_t)(bound + 2) * 2) seen <<= 1;
    s->table = PyMem_Calloc(slots, sizeof(uint64_t));
    s->bloom = PyMem_Calloc(bits / 64, sizeof(uint64_t));
    s->seen = PyMem_Calloc(seen, sizeof(uint64_t));
    s->used = PyMem_Calloc((size_t)bound + 2, sizeof(uint64_t));
    if (!s->table || !s->bloom || !s->seen || !s->used) { PyErr_NoMemory(); return -1; }
    s->bloom_mask = bits - 1;
    s->mask = slots - 1;
    s->seen_mask = seen - 1;
    Py_ssize_t filled = 0;
    PyObject *iterator = PyObject_GetIter(prompts), *prompt;
    if (!iterator) return -1;
    while ((prompt = PyIter_Next(iterator))) {
        Walk walk = {.s = s};
        int failed = read_words(&walk, prompt, index_word) < 0;
        Py_DECREF(prompt);
        if (failed) { Py_DECREF(iterator); return -1; }
        if (walk.words > 0 && walk.words < size) insert(s, whole_words(&walk));
        filled += walk.words ? walk.words : 0;
        if (filled > capacity) {
            Py_DECREF(iterator);
            PyErr_SetString(PyExc_ValueError, "Sieve: the prompts hold more words than capacity");
            return -1;
        }
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(suspects_doc, "suspects(texts: list[str]) -> list[int]: the indexes of the texts that may match");

static PyObject *Sieve_suspects(Sieve *s, PyObject *texts) {
    if (!s->table) { PyErr_SetString(PyExc_RuntimeError, "Sieve is not initialised"); return NULL; }
    PyObject *items = PySequence_Fast(texts, "texts must be a list of str");
    if (!items) return NULL;
    PyObject *found = PyList_New(0);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    for (Py_ssize_t i = 0; found && i < n; i++) {
        for (Py_ssize_t k = 0; k < s->nused; k++) s->seen[s->used[k]] = 0;
        s->nused = 0;
        Walk walk = {.s = s};
        if (read_words(&walk, PySequence_Fast_GET_ITEM(items, i), sift_word) < 0) { Py_CLEAR(found); break; }
        int suspect;
        if (walk.out || !walk.words) suspect = 0;
        else if (walk.words < s->size) suspect = held(s, whole_words(&walk));
        else {
            long long positions = walk.words - s->size + 1; /* at least its distinct shingles */
            suspect = walk.misses <= slack(s, positions < s->bound ? positions : s->bound);
        }
        if (suspect) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (!index || PyList_Append(found, index) < 0) Py_CLEAR(found);
            Py_XDECREF(index);
        }
    }
    Py_DECREF(items);
    return found;
}

PyDoc_STRVAR(word_hashes_doc, "word_hashes(text: str) -> list[int]: its normalised words' hashes (for tests)");

static PyObject *Sieve_word_hashes(Sieve *s, PyObject *text) {
    if (!s->table) { PyErr_SetString(PyExc_RuntimeError, "Sieve is not initialised"); return NULL; }
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    Walk walk = {.s = s, .hashes = list};
    if (read_words(&walk, text, collect_word) < 0 || PyErr_Occurred()) { Py_DECREF(list); return NULL; }
    return list;
}

static PyMethodDef Sieve_methods[] = {
    {"suspects", (PyCFunction)Sieve_suspects, METH_O, suspects_doc},
    {"word_hashes", (PyCFunction)Sieve_word_hashes, METH_O, word_hashes_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SieveType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "iterft_sieve.Sieve",
    .tp_doc = PyDoc_STR("Sieve(prompts, size, num, den, bound, capacity, normalise): the evaluation prompts' "
                        "shingles, and a filter of texts against them (threshold num / den)"),
    .tp_basicsize = sizeof(Sieve),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sieve_init,
    .tp_dealloc = (destructor)Sieve_dealloc,
    .tp_methods = Sieve_methods,
};

static struct PyModuleDef sieve_module = {
    PyModuleDef_HEAD_INIT, "iterft_sieve", "The leakage check's batch filter in C (native/sieve.c).", -1, NULL,
};

PyMODINIT_FUNC PyInit_iterft_sieve(void) {
    for (int c = 0; c < 128; c++) {
        if (c >= 'A' && c <= 'Z') FOLD[c] = (unsigned char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') FOLD[c] = (unsigned char)c;
        else FOLD[c] = 0;
    }
    if (PyType_Ready(&SieveType) < 0) return NULL;
    PyObject *module = PyModule_Create(&sieve_module);
    if (!module) return NULL;
    Py_INCREF(&SieveType);
    /* Raised with every change the Python side relies on (lambda/iterft_runtime/logic/native.py). */
    if (PyModule_AddIntConstant(module, "INTERFACE", 1) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddObject(module, "Sieve", (PyObject *)&SieveType) < 0) {
        Py_DECREF(&SieveType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
