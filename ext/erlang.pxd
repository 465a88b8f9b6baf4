# C-level Erlang kernels of dialer._ext.erlang, for other Cython kernels to cimport.
#
# These take validated input (servers >= 0; rates and loads finite, >= 0; service_rate > 0)
# and never raise: they hold no GIL and touch no Python object. The Python-level functions
# of the module validate, then call these.

ctypedef struct erlang_a_result:
    double p_wait       # P(W > 0)
    double p_abandon    # P(Ab)
    double mean_wait    # E[W], over all callers, abandoning ones included


cdef double c_erlang_b(Py_ssize_t servers, double load) noexcept nogil
cdef double c_erlang_c(Py_ssize_t servers, double load) noexcept nogil
cdef double c_mmc_wait_probability(Py_ssize_t servers, double arrival_rate,
                                   double service_rate, double t) noexcept nogil
cdef double c_mmc_asa(Py_ssize_t servers, double arrival_rate,
                      double service_rate) noexcept nogil
cdef erlang_a_result c_erlang_a(Py_ssize_t servers, double arrival_rate, double service_rate,
                                double abandon_rate) noexcept nogil
