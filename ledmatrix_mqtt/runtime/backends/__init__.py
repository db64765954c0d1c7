"""Panel backends: where finished frames go (hardware, RGBMatrixEmulator, or nowhere)."""
