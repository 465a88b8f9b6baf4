"""Build the compiled kernels: every ext/<name>.pyx becomes the module dialer._ext.<name>.

Project metadata lives in pyproject.toml; this file only adds the extension modules.

Switches, read at build time:
  DIALER_NO_EXTENSIONS=1  build no extension at all (a pure-Python install; the kernels
                          selector then uses the twins in dialer/core/kernels/).
  DIALER_CYTHON_DEBUG=1   Cython annotate HTML (build/cython/debug/ext/<name>.html), line
                          tracing for coverage/profilers, bounds and initialisation checks,
                          -O0 -g. cdivision stays on so both builds compute the same numbers.

Cythonizing happens when build_ext runs (a subclass of it, as uvloop and asyncpg do), so
commands that never compile (egg_info, sdist) neither need Cython nor lose the .pyx/.pxd
sources: the extensions list the .pyx as their source and the .pxd as a dependency, and
setuptools' sdist picks both up. The generated C goes under build/cython/<mode>/, one tree
per mode, so a debug build never leaves its C behind for a release build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

# The Cython we compile with; keep in step with [build-system] requires in pyproject.toml.
CYTHON_DEPENDENCY = "Cython>=3.0.10,<3.4"
CYTHON_BELOW = (3, 4)
CYTHON_LANGUAGE_LEVEL = 3

HERE = Path(__file__).resolve().parent
EXT_DIR = "ext"
PACKAGE = "dialer._ext"


def _flag(name: str) -> bool:
    """An env switch is on when set to anything but '', '0', 'false' or 'no'."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS = _flag("DIALER_NO_EXTENSIONS")
CYTHON_DEBUG = _flag("DIALER_CYTHON_DEBUG")


def _extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        _warn_stale_inplace_builds()
        return []
    exts = []
    # Relative paths: setuptools wants sources relative to the project root.
    for pyx in sorted((HERE / EXT_DIR).glob("*.pyx")):
        name = pyx.stem
        pxd = pyx.with_suffix(".pxd")
        exts.append(
            Extension(
                f"{PACKAGE}.{name}",
                sources=[f"{EXT_DIR}/{pyx.name}"],
                depends=[f"{EXT_DIR}/{pxd.name}"] if pxd.exists() else [],
                language="c",
            )
        )
    return exts


def _warn_stale_inplace_builds() -> None:
    """An editable install leaves its compiled kernels in dialer/_ext/; a later pure build
    does not remove them, and the selector would still import them."""
    stale = sorted(p.name for p in (HERE / "dialer" / "_ext").glob("*.so"))
    stale += sorted(p.name for p in (HERE / "dialer" / "_ext").glob("*.pyd"))
    if stale:
        print(
            "warning: DIALER_NO_EXTENSIONS is set but compiled kernels from an earlier build "
            f"remain in dialer/_ext/ ({', '.join(stale)}); they will still be imported unless "
            "DIALER_NO_EXTENSIONS is also set at run time. Remove them for a pure tree.",
            file=sys.stderr,
        )


class BuildExt(_build_ext):
    """Cythonize our .pyx sources, then compile them with the flags of the chosen mode."""

    def run(self) -> None:
        # Here, not in finalize_options: egg_info and sdist finalize build_ext to list the
        # sources, and must see the .pyx (not generated C) without needing Cython or numpy.
        self._cythonize()
        super().run()

    def _cythonize(self) -> None:
        extensions = [ext for ext in self.extensions if _is_cython(ext)]
        if not extensions:
            return

        import numpy
        from Cython import __version__ as cython_version
        from Cython.Build import cythonize

        _check_cython_version(cython_version)

        directives: dict[str, object] = {
            "language_level": CYTHON_LANGUAGE_LEVEL,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        }
        macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
        if CYTHON_DEBUG:
            directives.update(boundscheck=True, initializedcheck=True, linetrace=True)
            macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
            cflags = ["-O0", "-g"]
        else:
            cflags = ["-O3"]

        mode = "debug" if CYTHON_DEBUG else "release"
        build_dir = f"build/cython/{mode}"
        # setuptools skips compiling when the target .so is newer than the C source, which
        # after a switch of mode would keep the other mode's binary: recompile on a switch.
        stamp = HERE / "build" / "cython" / "last-mode"
        if not stamp.exists() or stamp.read_text() != mode:
            self.force = True
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(mode)
        generated = cythonize(
            extensions,
            compiler_directives=directives,
            annotate=CYTHON_DEBUG,
            build_dir=build_dir,
            include_path=[_stage_pxd(Path(build_dir) / "pxd")],
            nthreads=0,
            force=bool(self.force),
            quiet=not CYTHON_DEBUG,
        )
        # Keep the Extension objects setuptools has already finalized (it hangs private
        # attributes on them); take only what cythonize changed: the C source.
        for ext, built in zip(extensions, generated, strict=True):
            ext.sources = built.sources
            ext.include_dirs = [*ext.include_dirs, numpy.get_include()]
            ext.define_macros = [*ext.define_macros, *macros]
            ext.extra_compile_args = [*ext.extra_compile_args, *cflags]


def _is_cython(ext: Extension) -> bool:
    return any(str(src).endswith(".pyx") for src in ext.sources)


def _stage_pxd(root: Path) -> str:
    """Lay ext/*.pxd out as dialer/_ext/*.pxd under `root` and return `root`.

    Cython finds a module's .pxd (its own, or one it cimports) by the module's dotted name,
    dialer._ext.<name>, i.e. dialer/_ext/<name>.pxd on the include path, not beside the .pyx
    in ext/. Staging the declarations there lets ext/<name>.pyx see its own .pxd and lets
    any kernel `from dialer._ext.<other> cimport ...` another's C functions.
    """
    pkg = HERE / root / "dialer" / "_ext"
    pkg.mkdir(parents=True, exist_ok=True)
    for init in (pkg.parent / "__init__.pxd", pkg / "__init__.pxd"):
        if not init.exists():
            init.write_text("")
    for pxd in (HERE / EXT_DIR).glob("*.pxd"):
        staged = pkg / pxd.name
        text = pxd.read_text()
        if not staged.exists() or staged.read_text() != text:
            staged.write_text(text)
    return str(root)


def _check_cython_version(version: str) -> None:
    """Fail early with a clear message instead of a C compile error from an old Cython."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    if not (3, 0) <= tuple(parts) < CYTHON_BELOW:
        raise RuntimeError(
            f"dialer's kernels need {CYTHON_DEPENDENCY}, found Cython {version}; "
            "install it, or build without extensions with DIALER_NO_EXTENSIONS=1"
        )


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": BuildExt},
    zip_safe=False,
)
