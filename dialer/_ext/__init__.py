"""Compiled kernels, built by setup.py from ext/<name>.pyx as dialer._ext.<name>.

Nothing imports these directly: each has a pure-Python twin in dialer/core/kernels/, and the
selector there (`dialer.core.kernels`) picks the compiled one unless DIALER_NO_EXTENSIONS is
set or it was not built. An install made with DIALER_NO_EXTENSIONS=1 leaves this package
empty.
"""
