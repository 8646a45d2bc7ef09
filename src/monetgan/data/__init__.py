"""Images in and out: finding and decoding paintings safely (`dataset`), grids and PNG files (`images`)."""
