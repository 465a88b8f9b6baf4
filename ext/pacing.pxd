# C-level pacing kernels of dialer._ext.pacing, for other Cython kernels to cimport.
#
# These take validated input (tables non-empty with n_last = length - 1 >= 0, dt > 0,
# probabilities in [0, 1], buffers of the documented sizes) and never raise: they hold no GIL and
# touch no Python object. The Python-level functions of the module validate, then call these.

# P(needs an agent within h | unanswered after e): (L(e + h) - L(e)) / S(e), clamped to [0, 1].
cdef double c_answer_p(const double* live, const double* surv, Py_ssize_t n_last, double dt,
                       double e, double h) noexcept nogil
# P(talk ends within h | e seconds into it): 1 - S(e + h) / S(e), the tail keeping its last hazard.
cdef double c_release_p(const double* surv, Py_ssize_t n_last, double dt, double e,
                        double h) noexcept nogil
# Exact Poisson-binomial pmf of p[0..n-1] into out[0..n].
cdef void c_pb_full(const double* p, Py_ssize_t n, double* out) noexcept nogil
# Sliding-window Poisson-binomial DP (half width hw) into b[0..n]; the pmf is b[lo..hi].
cdef void c_pb_window(const double* r, Py_ssize_t n, Py_ssize_t hw, double* b,
                      Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil
