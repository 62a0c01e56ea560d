"""ctl: Contrastive Translation Learning for medical image segmentation, as a teaching package.

Zeng, Fan, Shen, Chen, Luo, "Contrastive Translation Learning for Medical Image Segmentation", ICASSP 2022.
The notebooks in ``notebooks/`` are the product. This package holds the library they import and test (``data``,
``nets``, ``losses``, ``translate``, ``methods``, ``training``, ``evaluate`` and the modules ``organs``,
``presets``, ``device``, ``series``, which runs the notebook series) and, in ``ctl.teach``, the helpers only the notebooks use; CONTRIBUTING.md maps them.
"""

__version__ = "0.1.0"
# Where this version is published: the Colab set-up installs it from there, the series runner points users there.
# Bump ``__version__`` and tag that commit ``RELEASE`` when releasing.
REPOSITORY = "https://github.com/ctl-teaching/ctl"
RELEASE = f"v{__version__}"
