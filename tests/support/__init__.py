"""Test support shared by the tests and the benchmarks in scripts/bench (not part of the installed library).

- :mod:`support.testnets` — small deterministic torch models (conv/residual, attention, ResNet-50 layout).
- :mod:`support.tflite_writer` — small real .tflite files written with LiteRT's own flatbuffer schema, so runtime
  tests do not depend on the converter they would be checking.
- :mod:`support.docs` — the generated blocks of the docs (``scripts/gen_docs.py``), for the tests that keep them current.

The tests import these as ``support.*`` (``tests/conftest.py`` puts ``tests/`` on ``sys.path``); the benchmarks, which
put the repository root on ``sys.path``, as ``tests.support.*``.
"""
