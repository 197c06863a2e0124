"""``skdigits serve``: a page to draw digits for a fitted model, and a JSON endpoint.

Needs the ``serve`` extra (``pip install 'skdigits[serve]'``: Starlette on
uvicorn). Starlette and uvicorn are imported only when an app is made, so
[`describe_prediction`][skdigits.serve.describe_prediction] (which ``skdigits
predict`` shares) works without them, and importing this module loads
nothing but the standard library (the command line reads its limits).
"""

import io
import os
import threading
from importlib import resources

__all__ = ["MAX_SERVED_PIXELS", "MAX_UPLOAD_BYTES", "create_app", "describe_prediction", "run_server"]

#: Largest request body POST /predict reads, in bytes (a phone photo is 2-8 MB).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Largest image POST /predict decodes, in pixels (16 million: a phone photo; 64 MB as RGBA).
MAX_SERVED_PIXELS = 16_000_000

_PAGE_FILES = {"/": ("serve.html", "text/html; charset=utf-8"), "/serve.js": ("serve.js", "text/javascript")}
_HEADERS = {
    # the page runs only its own script; nothing is framed or sniffed
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def describe_prediction(classes, probabilities, *, top=3):
    """The predicted label and the `top` most likely classes, as plain JSON-ready values.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        The model's ``classes_``.
    probabilities : array-like of shape (n_classes,)
        One row of ``predict_proba``.
    top : int, default=3
        How many classes to list, most likely first.

    Returns
    -------
    description : dict
        ``{"label": ..., "top3": [{"label": ..., "probability": ...}, ...]}``, probabilities rounded to 4 places
        (the key is ``top3`` whatever `top` is).

    Examples
    --------
    >>> from skdigits.serve import describe_prediction
    >>> describe_prediction([0, 1, 2], [0.1, 0.7, 0.2], top=2)
    {'label': 1, 'top3': [{'label': 1, 'probability': 0.7}, {'label': 2, 'probability': 0.2}]}
    """
    import numpy as np

    classes, probabilities = np.asarray(classes), np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(probabilities, kind="stable")[::-1][:top]
    return {
        "label": classes[order[0]].item(),
        "top3": [{"label": classes[i].item(), "probability": round(float(probabilities[i]), 4)} for i in order],
    }


def create_app(model, *, max_upload_bytes=MAX_UPLOAD_BYTES, max_pixels=MAX_SERVED_PIXELS, max_concurrent=None):
    """A Starlette app: the drawing page at ``/`` and ``POST /predict``.

    ``POST /predict`` takes the bytes of one image file as the request body
    (PNG, JPEG, BMP...; not a multipart form) and an optional query
    parameter ``invert=true|false`` (dark ink on light paper; default:
    decided from the image's border). It answers JSON: ``label``, ``top3``,
    ``classes``, ``probabilities`` (aligned with ``classes``) and ``pixels``,
    the 784 normalised pixels the model saw (28x28, row by row). Bad input
    gets a 4xx status and ``{"error": message}``: 400 (empty body, not an
    image, bad ``invert``), 413 (over `max_upload_bytes` or `max_pixels`),
    415 (a multipart form), 422 (no ink: a blank canvas). Uploads stay in
    memory; nothing is written to disk.

    Parameters
    ----------
    model : fitted classifier
        Anything with ``predict_proba`` and ``classes_`` that takes rows of
        784 pixels: a fitted digit pipeline or ensemble.
    max_upload_bytes : int, default=MAX_UPLOAD_BYTES
        Largest request body read.
    max_pixels : int, default=MAX_SERVED_PIXELS
        Largest image decoded, checked from its header.
    max_concurrent : int or None, default=None
        Images decoded and predicted at once (the others wait); None: the
        number of CPUs, at most 4. Bounds memory under many requests.

    Returns
    -------
    app : starlette.applications.Starlette

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from skdigits.serve import create_app
    >>> model = DummyClassifier().fit([[0] * 784, [255] * 784], [3, 8])
    >>> app = create_app(model)
    >>> [route.path for route in app.routes]
    ['/', '/serve.js', '/predict']
    """
    import anyio
    import numpy as np
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from .datasets import ImageTooLargeError, read_image
    from .normalization import BlankImageError, normalize_digit

    limiter = anyio.CapacityLimiter(max_concurrent or min(4, os.cpu_count() or 1))
    predicting = threading.Lock()  # one Keras predict at a time; decoding runs in parallel
    classes = np.asarray(model.classes_)
    pages = {path: (resources.files("skdigits").joinpath("data", name).read_bytes(), kind)
             for path, (name, kind) in _PAGE_FILES.items()}

    def error(status, message):
        return JSONResponse({"error": message}, status_code=status, headers=_HEADERS)

    async def page(request):
        body, kind = pages[request.url.path]
        return Response(body, media_type=kind, headers=_HEADERS)

    def predict_bytes(body, invert):
        upload = io.BytesIO(body)
        upload.name = "the upload"  # how errors name it
        pixels = normalize_digit(read_image(upload, max_pixels=max_pixels), invert=invert)
        with predicting:
            probabilities = np.asarray(model.predict_proba(pixels.reshape(1, -1)))[0]
        return {
            **describe_prediction(classes, probabilities),
            "classes": classes.tolist(),
            "probabilities": [round(float(p), 6) for p in probabilities],
            "pixels": pixels.reshape(-1).tolist(),
        }

    async def predict(request):
        if request.headers.get("content-type", "").lower().startswith("multipart/"):
            return error(415, "send the image file itself as the request body, not a multipart form: "
                              "curl --data-binary @digit.png -H 'Content-Type: image/png' URL/predict")
        invert = request.query_params.get("invert", "auto").lower()
        if invert not in _INVERT:
            return error(400, f"invert={invert!r} is not understood; use invert=true (dark ink on light paper), "
                              "invert=false (light ink on dark) or leave it out (decided from the border).")
        body = await _read_body(request, max_upload_bytes)
        if isinstance(body, int):
            return error(413, f"the upload is {body:,} bytes or more, over the {max_upload_bytes:,} this server "
                              "accepts; send a smaller image (or start it with a larger --max-upload-mb).")
        if not body:
            return error(400, "the request body is empty; send the bytes of one image file (PNG, JPEG, BMP ...).")
        try:
            answer = await anyio.to_thread.run_sync(predict_bytes, body, _INVERT[invert], limiter=limiter)
        except ImageTooLargeError as too_large:
            return error(413, str(too_large))
        except BlankImageError as blank:
            return error(422, str(blank))
        except ValueError as bad:
            return error(400, str(bad))
        return JSONResponse(answer, headers=_HEADERS)

    return Starlette(routes=[*(Route(path, page) for path in _PAGE_FILES), Route("/predict", predict, methods=["POST"])])


_INVERT = {"auto": None, "true": True, "false": False}


async def _read_body(request, limit):
    """The request body, or the number of bytes seen once it is over `limit`.

    An upload up to 4x over the limit is read to its end and dropped, so that
    the client, still sending, gets the 413 answer instead of a broken pipe;
    a larger one (declared or streamed) is answered without reading further.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _DRAIN_FACTOR * limit:
        return int(declared)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _DRAIN_FACTOR * limit:
            break
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else size


_DRAIN_FACTOR = 4


def run_server(model, *, host="127.0.0.1", port=8000, log_level="info", **app_params):
    """Serve [`create_app`][skdigits.serve.create_app]`(model)` with uvicorn until Ctrl-C or SIGTERM.

    Parameters
    ----------
    model : fitted classifier
        See [`create_app`][skdigits.serve.create_app].
    host : str, default="127.0.0.1"
        Address to bind: this machine only. ``0.0.0.0`` exposes the model to the network.
    port : int, default=8000
    log_level : str, default="info"
        uvicorn's log level.
    **app_params
        ``max_upload_bytes``, ``max_pixels``, ``max_concurrent``.

    Examples
    --------
    >>> import skdigits
    >>> from skdigits.serve import run_server
    >>> run_server(skdigits.load("model.skdigits"), port=8000)  # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(create_app(model, **app_params), host=host, port=port, log_level=log_level)
