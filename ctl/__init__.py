"""ctl: Contrastive Translation Learning for medical image segmentation, as a teaching package.

Zeng, Fan, Shen, Chen, Luo, "Contrastive Translation Learning for Medical Image Segmentation", ICASSP 2022.
The notebooks in ``notebooks/`` are the product; this package holds the code they import and test.
"""

__version__ = "0.1.0"
