"""Chinese map coordinates (GCJ-02, BD-09) to WGS84, and the CGCS2000 zone for ``crs: auto``.

GCJ-02 ("Mars coordinates") is the obfuscated datum every map service licensed in mainland
China must publish (Amap/Gaode, Tencent, Google's China tiles); BD-09 is Baidu's further offset
of it. Points exported from those services sit 100-700 m from their WGS84 position. The forward
transform (WGS84 to GCJ-02) is the published algorithm (constants of the Krasovsky 1940
ellipsoid, the same as in eviltransform, coordtransform and prcoords); its inverse has no closed
form and is found by fixed-point iteration to under a millimetre. Points outside mainland China
are not offset by either service, so they are returned unchanged (the same rough box as the
reference implementations).

Everything is vectorised over numpy arrays of longitudes and latitudes (degrees).
"""

from __future__ import annotations

import math

import numpy as np

from optimizer.errors import InputError, Problem

KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
BD_X_PI = math.pi * 3000.0 / 180.0
CHINA_LON = (72.004, 137.8347)
CHINA_LAT = (0.8293, 55.8271)
INVERSE_TOLERANCE_DEG = 1e-10  # about 0.01 mm
INVERSE_MAX_ITERATIONS = 30
COORDINATE_SYSTEMS = ("wgs84", "gcj02", "bd09")

# CGCS2000 / 3-degree Gauss-Kruger CM 75E .. CM 135E are EPSG:4534 .. EPSG:4554
GK3_FIRST_EPSG = 4534
GK3_FIRST_CM = 75
GK3_LAST_CM = 135


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies in the rough box where GCJ-02 offsets apply."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (
        (lon >= CHINA_LON[0])
        & (lon <= CHINA_LON[1])
        & (lat >= CHINA_LAT[0])
        & (lat <= CHINA_LAT[1])
    )


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 (degrees) at WGS84 points, zero outside China."""
    x, y = lon - 105.0, lat - 35.0
    sq = np.sqrt(np.abs(x))
    waves_lat = (
        (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    waves_lon = (
        (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + waves_lat
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + waves_lon
    rad = lat / 180.0 * np.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, d_lon, 0.0), np.where(inside, d_lat, 0.0)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude/latitude to GCJ-02 (the published forward transform)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lon, d_lat = _offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitude/latitude to WGS84: the forward transform inverted by iteration.

    Each step moves the estimate by the residual of the forward transform; the offset field
    changes by far less than 1 % over its own size, so the error shrinks a hundredfold a step.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(INVERSE_MAX_ITERATIONS):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        r_lon, r_lat = lon - g_lon, lat - g_lat
        w_lon, w_lat = w_lon + r_lon, w_lat + r_lat
        if max(float(np.abs(r_lon).max(initial=0)), float(np.abs(r_lat).max(initial=0))) < (
            INVERSE_TOLERANCE_DEG
        ):
            break
    return w_lon, w_lat


def bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baidu BD-09 to GCJ-02 (Baidu's published inverse)."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baidu BD-09 to WGS84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: np.ndarray, lat: np.ndarray, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude in ``system`` (``wgs84`` | ``gcj02`` | ``bd09``) to WGS84."""
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    if system == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    raise ValueError(f"unknown coordinate system {system!r}; use one of {COORDINATE_SYSTEMS}")


def gauss_kruger_zone_epsg(lon: float, source: str = "crs: auto") -> str:
    """The CGCS2000 3-degree Gauss-Kruger CRS (EPSG:4534-4554) whose zone holds ``lon``.

    The zones' central meridians are multiples of 3 degrees (75E-135E cover China); a longitude
    belongs to the nearest one.

    Raises
    ------
    InputError
        When the longitude lies outside 73.5E-136.5E (no CGCS2000 3-degree zone).

    Examples
    --------
    >>> gauss_kruger_zone_epsg(116.35)   # Beijing, central meridian 117E
    'EPSG:4548'
    >>> gauss_kruger_zone_epsg(114.3)    # Wuhan, central meridian 114E
    'EPSG:4547'
    """
    cm = 3 * round(lon / 3.0)
    if not GK3_FIRST_CM <= cm <= GK3_LAST_CM:
        raise InputError(
            [
                Problem(
                    source,
                    None,
                    f"the data's centre (longitude {lon:.3f}) lies outside the CGCS2000 "
                    "3-degree Gauss-Kruger zones (75E-135E): name a projected CRS in metres "
                    "with `crs:`",
                )
            ],
            what="recipe",
        )
    return f"EPSG:{GK3_FIRST_EPSG + (cm - GK3_FIRST_CM) // 3}"
