"""The same algorithm as telea_folder.py, as an in-process function for ``@telea_inprocess:telea``."""

import cv2
import numpy as np


def telea(image, mask, radius=3.0):
    """OpenCV Telea on the 8-bit image, in OpenCV's BGR order as the folder tool reads it."""
    bgr = np.rint(image[..., ::-1] * 255).astype(np.uint8)
    out = cv2.inpaint(bgr, mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return (out[..., ::-1] / np.float32(255)).astype(np.float32)
