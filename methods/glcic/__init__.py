"""GLCIC (Iizuka, Simo-Serra, Ishikawa 2017) as registry methods.

The completion network, three-phase training and the discriminator ablations, as
``iizuka``, ``iizuka-global`` and ``iizuka-local`` (one factory; the names differ only in the
default ``disc``).

Keys
----
disc : {"full", "global", "local"}
    Which committed checkpoint is the default (the discriminator the net was trained with).
data : {"celeba", "builtin"}
    Which committed checkpoint set: trained on CelebA faces (default, the study's data) or
    on the builtin photos (no faces).
ckpt : str
    Path of a ``glcic-VARIANT.pt`` from ``bench train`` (overrides ``data``).
post : {"none", "blend"}
    ``blend``: Telea fill then ``cv2.seamlessClone`` of the output (the authors' code).
drop : str
    Channels zeroed by forward hooks, ``conv1.0+conv14.44`` (layers conv1 ... conv17).
identity : str
    Layers replaced by the identity, ``conv11`` or ``conv5+conv11``.
batch : int
    Images per forward pass.
device : {"cpu", "cuda", "cuda:N", "auto"}
    Where the network runs (``auto``: CUDA when torch has a device, else the CPU). A CUDA
    device and its GPU are part of the method's fingerprint; the CPU is not.

torch is imported only when a method is created, so listing methods stays fast.
"""

from __future__ import annotations

from methods.registry import Method, register


def _factory(disc: str):
    def factory(
        ckpt: str = "",
        post: str = "none",
        drop: str = "",
        identity: str = "",
        batch: int = 16,
        disc: str = disc,
        data: str = "celeba",
        device: str = "cpu",
    ) -> Method:
        from methods.glcic.inference import create_glcic

        return create_glcic(
            disc=disc, ckpt=ckpt, post=post, drop=drop, identity=identity, batch=batch, data=data, device=device
        )

    factory.__doc__ = f"GLCIC completion net, default checkpoint trained with the {disc} discriminator"
    return factory


register("iizuka", family="glcic", summary="GLCIC (Iizuka et al. 2017), global + local discriminators")(
    _factory("full")
)
register("iizuka-global", family="glcic", summary="GLCIC ablation: trained with the global discriminator only")(
    _factory("global")
)
register("iizuka-local", family="glcic", summary="GLCIC ablation: trained with the local discriminator only")(
    _factory("local")
)
