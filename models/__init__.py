"""Model families for 28x28 grayscale classification, behind a name registry.

Importing this package registers every family; `build_model(name, ...)`, `list_models()` and
`get_spec(name)` (the entry's traits, a `ModelSpec`) are the entry points.
"""

from models import (
    capsule_net,  # noqa: F401  (registers its entries)
    fast_cnn,  # noqa: F401  (registers its entries)
    mobilenet_v2,  # noqa: F401  (registers its entries)
    shufflenet_v2,  # noqa: F401  (registers its entries)
    simple_cnn,  # noqa: F401  (registers its entries)
    wide_resnet,  # noqa: F401  (registers its entries)
)
from models.registry import (
    ModelSpec,
    build_model,
    get_spec,
    list_families,
    list_models,
    parameter_count,
    register_model,
)

__all__ = [
    "ModelSpec",
    "build_model",
    "get_spec",
    "list_families",
    "list_models",
    "parameter_count",
    "register_model",
]
