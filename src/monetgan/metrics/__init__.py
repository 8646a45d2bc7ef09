"""Image-quality and originality metrics, as plain functions of arrays.

- `inception`: Inception-v3 pool3 features (the pytorch-fid / clean-fid network) for FID and KID.
- `stats`: Frechet distance, KID, MiFID, nearest neighbours, Spearman correlation.
- `swd`: sliced Wasserstein distance on Laplacian-pyramid patches (ProGAN), no pretrained network.
- `msssim`: MS-SSIM and pairwise diversity.

`monetgan.reports.evaluate` puts them together for runs and folders.
"""
