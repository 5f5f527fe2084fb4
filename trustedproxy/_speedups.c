/* trustedproxy._speedups: the compiled fast path of TrustedProxyMiddleware.
 *
 * Skeleton: every request goes to the Python reference implementation
 * (TrustedProxyMiddleware._call_python). The fast path is being written.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *app;
} Core;

static PyObject *S_call_python;

static PyObject *
core_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *environ, *start_response;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "a WSGI application takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "TrustedProxyMiddleware", 2, 2, &environ, &start_response))
        return NULL;
    return PyObject_CallMethodObjArgs(self, S_call_python, environ, start_response, NULL);
}

static PyObject *
core_setup(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
    {"_setup", (PyCFunction)(void (*)(void))core_setup, METH_VARARGS | METH_KEYWORDS,
     "Hand the compiled policy's tables to the fast path (called by __init__)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "trustedproxy._speedups.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Base class of TrustedProxyMiddleware: the compiled request path.",
    .tp_call = core_call,
    .tp_methods = core_methods,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "trustedproxy._speedups",
    "The compiled fast path of trustedproxy's WSGI middleware.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    S_call_python = PyUnicode_InternFromString("_call_python");
    if (S_call_python == NULL || PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(module, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
