"""ctl: Contrastive Translation Learning for medical image segmentation, as a teaching package.

Zeng, Fan, Shen, Chen, Luo, "Contrastive Translation Learning for Medical Image Segmentation", ICASSP 2022.
The notebooks in ``notebooks/`` are the product. This package holds the library they import and test (``data``,
``nets``, ``losses``, ``translate``, ``methods``, ``training``, ``evaluate`` and the modules ``organs``,
``presets``, ``device``) and, in ``ctl.teach``, the helpers only the notebooks use; CONTRIBUTING.md maps them.
"""

__version__ = "0.1.0"
