/*
 * memgov._numpy_handler — numpy (>= 1.22) data-memory handlers whose allocator is a memgov budget.
 *
 * handler(budget_address, name) returns a "mem_handler" capsule (numpy's PyDataMem_Handler, NEP 49) whose
 * allocator context is the budget: malloc/calloc/realloc/free are memgov_malloc/calloc/realloc/free of the
 * libmemgov that the Python package loaded with ctypes (their addresses are handed over once by init(), so this
 * module links no library and can never load a second copy of libmemgov). numpy keeps a reference to the capsule
 * in every array it allocates with it, so the handler lives as long as its arrays; the free credits the block's
 * usable size (memgov_free looks it up), never numpy's size argument, which can differ from what was allocated.
 *
 * set_handler(capsule or None) installs a handler in numpy's context variable (None = numpy's default) and
 * returns the previous one: numpy's PyDataMem_SetHandler.
 *
 * The capsule keeps a reference to an owner object (the memgov.Budget) and calls owner._handler_released() when
 * it goes, so the owner knows when no array and no context uses the handler any more.
 *
 * A refused malloc/calloc records the budget's refusal text for the calling thread; take_refusal(nbytes) hands
 * it to the MemoryError numpy raises right after (memgov.numpy_support patches numpy's _ArrayMemoryError), and
 * only if it is for the same number of bytes, so a stale record never names the wrong cause.
 *
 * Thread safety: the handler functions run on whatever thread numpy allocates or frees on, with or without the
 * GIL; they touch only the budget (thread-safe) and thread-local state. init() must be called once before
 * handler(); the module-level function pointers are written once, under the GIL, before any handler exists.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#include <stdio.h>
#include <string.h>

typedef void *(*mg_malloc_fn)(void *budget, size_t size);
typedef void *(*mg_calloc_fn)(void *budget, size_t count, size_t size);
typedef void *(*mg_realloc_fn)(void *budget, void *ptr, size_t size);
typedef void (*mg_free_fn)(void *budget, void *ptr);
typedef const char *(*mg_last_error_fn)(void);

static mg_malloc_fn mg_malloc;
static mg_calloc_fn mg_calloc;
static mg_realloc_fn mg_realloc;
static mg_free_fn mg_free;
static mg_last_error_fn mg_last_error;

#define CAPSULE_NAME "mem_handler"
#define REFUSAL_MAX 512

/* The calling thread's last refused numpy allocation: its size and memgov's message. */
static _Thread_local size_t refusal_size;
static _Thread_local char refusal_text[REFUSAL_MAX];

static void note_refusal(size_t size)
{
    const char *msg = mg_last_error();
    refusal_size = size;
    snprintf(refusal_text, sizeof refusal_text, "%s", msg != NULL ? msg : "");
}

static void *h_malloc(void *ctx, size_t size)
{
    void *p = mg_malloc(ctx, size);
    if (p == NULL)
        note_refusal(size);
    return p;
}

static void *h_calloc(void *ctx, size_t count, size_t size)
{
    void *p = mg_calloc(ctx, count, size);
    if (p == NULL)
        note_refusal(count * size); /* memgov_calloc refused an overflowing product before any allocation */
    return p;
}

static void *h_realloc(void *ctx, void *ptr, size_t size)
{
    return mg_realloc(ctx, ptr, size);
}

static void h_free(void *ctx, void *ptr, size_t size)
{
    (void)size; /* numpy's idea of the size; memgov credits the block's usable size itself */
    mg_free(ctx, ptr);
}

/* The capsule owns its PyDataMem_Handler (allocated here) and a reference to the Python object passed as
 * `owner` (the memgov.Budget), so that the budget object outlives every array allocated through it. */
static int finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* Runs when the last array allocated through the handler, and every context holding it, are gone: tells the
 * owner (owner._handler_released(), which counts live handlers) and drops the reference to it. */
static void capsule_destructor(PyObject *capsule)
{
    PyDataMem_Handler *h = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    PyObject *owner = PyCapsule_GetContext(capsule);
    PyMem_RawFree(h);
    if (owner == NULL)
        return;
    if (!finalizing()) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *r = PyObject_CallMethod(owner, "_handler_released", NULL);
        if (r == NULL)
            PyErr_WriteUnraisable(owner);
        Py_XDECREF(r);
        PyErr_Restore(type, value, tb);
    }
    Py_DECREF(owner);
}

static PyObject *py_init(PyObject *self, PyObject *args)
{
    unsigned long long a_malloc, a_calloc, a_realloc, a_free, a_err;
    (void)self;
    if (!PyArg_ParseTuple(args, "KKKKK", &a_malloc, &a_calloc, &a_realloc, &a_free, &a_err))
        return NULL;
    if (!a_malloc || !a_calloc || !a_realloc || !a_free || !a_err) {
        PyErr_SetString(PyExc_ValueError, "init: a function address is 0");
        return NULL;
    }
    mg_malloc = (mg_malloc_fn)(uintptr_t)a_malloc;
    mg_calloc = (mg_calloc_fn)(uintptr_t)a_calloc;
    mg_realloc = (mg_realloc_fn)(uintptr_t)a_realloc;
    mg_free = (mg_free_fn)(uintptr_t)a_free;
    mg_last_error = (mg_last_error_fn)(uintptr_t)a_err;
    Py_RETURN_NONE;
}

static PyObject *py_handler(PyObject *self, PyObject *args)
{
    unsigned long long budget;
    const char *name;
    PyObject *owner;
    (void)self;
    if (!PyArg_ParseTuple(args, "KsO", &budget, &name, &owner))
        return NULL;
    if (mg_malloc == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "handler: init() was not called");
        return NULL;
    }
    if (budget == 0) {
        PyErr_SetString(PyExc_ValueError, "handler: the budget address is 0");
        return NULL;
    }
    PyDataMem_Handler *h = PyMem_RawCalloc(1, sizeof *h);
    if (h == NULL)
        return PyErr_NoMemory();
    snprintf(h->name, sizeof h->name, "memgov:%s", name);
    h->version = 1;
    h->allocator.ctx = (void *)(uintptr_t)budget;
    h->allocator.malloc = h_malloc;
    h->allocator.calloc = h_calloc;
    h->allocator.realloc = h_realloc;
    h->allocator.free = h_free;
    PyObject *capsule = PyCapsule_New(h, CAPSULE_NAME, capsule_destructor);
    if (capsule == NULL) {
        PyMem_RawFree(h);
        return NULL;
    }
    Py_INCREF(owner);
    if (PyCapsule_SetContext(capsule, owner) != 0) {
        Py_DECREF(owner); /* the destructor (run by the DECREF below) sees no context yet */
        Py_DECREF(capsule);
        return NULL;
    }
    return capsule;
}

static PyObject *py_set_handler(PyObject *self, PyObject *arg)
{
    (void)self;
    if (arg != Py_None && !PyCapsule_IsValid(arg, CAPSULE_NAME)) {
        PyErr_SetString(PyExc_TypeError, "set_handler: expected a mem_handler capsule or None");
        return NULL;
    }
    return PyDataMem_SetHandler(arg == Py_None ? NULL : arg);
}

static PyObject *py_take_refusal(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t nbytes = PyLong_AsSsize_t(arg);
    if (nbytes == -1 && PyErr_Occurred())
        return NULL;
    if (refusal_text[0] == '\0')
        Py_RETURN_NONE;
    int match = refusal_size == (size_t)nbytes || (nbytes == 0 && refusal_size <= 16);
    PyObject *out = match ? PyUnicode_DecodeUTF8(refusal_text, (Py_ssize_t)strlen(refusal_text), "replace")
                          : (Py_INCREF(Py_None), Py_None);
    refusal_text[0] = '\0';
    return out;
}

static PyObject *py_budget_of(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyCapsule_IsValid(arg, CAPSULE_NAME)) {
        PyErr_SetString(PyExc_TypeError, "budget_of: expected a mem_handler capsule");
        return NULL;
    }
    PyDataMem_Handler *h = PyCapsule_GetPointer(arg, CAPSULE_NAME);
    if (h->allocator.malloc != h_malloc)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong((unsigned long long)(uintptr_t)h->allocator.ctx);
}

static PyMethodDef methods[] = {
    {"init", py_init, METH_VARARGS,
     "init(malloc, calloc, realloc, free, last_error): the addresses of libmemgov's functions"},
    {"handler", py_handler, METH_VARARGS,
     "handler(budget_address, name, owner) -> mem_handler capsule allocating from the budget; keeps owner alive"},
    {"set_handler", py_set_handler, METH_O,
     "set_handler(capsule or None) -> the previous handler (numpy's PyDataMem_SetHandler)"},
    {"take_refusal", py_take_refusal, METH_O,
     "take_refusal(nbytes) -> this thread's last refusal text if it was for nbytes, else None; clears it"},
    {"budget_of", py_budget_of, METH_O,
     "budget_of(capsule) -> the budget address of a memgov handler, None for another handler"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_numpy_handler", "numpy memory handlers backed by memgov budgets", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__numpy_handler(void);

PyMODINIT_FUNC PyInit__numpy_handler(void)
{
    import_array();
    return PyModule_Create(&module);
}
