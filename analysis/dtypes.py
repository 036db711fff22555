"""Element sizes of the number formats the analysis can count bytes for.

One element size applies to weights, KV cache and activations alike (NB: real deployments
mix them, e.g. fp8 weights with a bf16 KV cache; run the op twice to bound such a mix).
"""

from ..hdl.errors import one_of

__all__ = ["DTYPE_BYTES", "element_bytes"]

#: Bytes per element. fp8 is either OCP format (E4M3 or E5M2): both are one byte.
DTYPE_BYTES = {"bf16": 2, "fp8": 1, "int8": 1}


def element_bytes(dtype: str) -> int:
    """Return the size in bytes of one ``dtype`` element.

    Raises
    ------
    ValueError
        If ``dtype`` is not a key of :data:`DTYPE_BYTES`; the message lists the known ones.
    """
    return DTYPE_BYTES[one_of("dtype", dtype, DTYPE_BYTES)]
