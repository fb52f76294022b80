"""Export the escnn networks to plain torch (circular padding kept; see ``gcnn.fix_circular``)."""

from .gcnn import ExportedGCNN, fix_circular  # noqa: F401


def export_gcnn(gcnn):
    """Plain-torch copy of a :class:`spinsym.nn.gcnn.GCNN` (eval mode, same outputs)."""
    return gcnn.export()
