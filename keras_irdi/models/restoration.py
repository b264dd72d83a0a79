"""Restoration network (IRCNN-style, [15] of the paper): dilated 1-2-3-4-3-2-1 body, residual learning."""
import keras
from keras import layers, ops

from keras_irdi.models._body import dilated_body


def build_restoration_net(filters: int = 64, zero_init_residual: bool = True,
                          name: str = "restoration") -> keras.Model:
    """Degraded image in [0,1] -> restored image in [0,1], any HxW.

    The body predicts the degradation residual, which is subtracted from the input (IRCNN); the
    output is clipped to [0,1] so the classifiers always see valid images (ReLU(max_value=1) is a
    plain Keras layer, so the model saves and exports without custom code).

    ``zero_init_residual`` starts the last conv at zero, i.e. the net starts as the identity and can
    only learn corrections: with a random last layer a short (CPU) schedule ends *below* the
    degraded input's PSNR (docs/DECISIONS.md).
    """
    degraded = keras.Input(shape=(None, None, 3), name="degraded")
    residual = dilated_body(degraded, filters, 3, prefix="res",
                            last_initializer="zeros" if zero_init_residual else "he_normal")
    restored = layers.Subtract(name="remove_residual", dtype="float32")([degraded, residual])  # the input unrounded
    restored = layers.ReLU(max_value=1.0, name="clip_0_1", dtype="float32")(restored)
    return keras.Model(degraded, restored, name=name)


def _log_mse(clean, restored, cap_db: float):
    """Per-image 10*log10(MSE + 10^(-cap_db/10)): minus the image's PSNR, capped at ``cap_db``."""
    mse = ops.mean(ops.square(clean - restored), axis=(1, 2, 3))
    return 10.0 * ops.log(mse + 10.0 ** (-cap_db / 10.0)) / ops.log(10.0)


@keras.saving.register_keras_serializable(package="keras_irdi")
class PSNRLoss(keras.losses.Loss):
    """Minus the mean per-image PSNR, each image's PSNR capped at ``cap_db``.

    Why the log: plain MSE is dominated by the most damaged images (QF 10 errors are ~20x those at QF 90),
    so a net trained on it gains at low quality and loses at high quality; the log weighs every image's
    relative improvement alike, and its mean is the CPSNR of Tables 2 and 5.
    Why the cap: the gradient of an image weighs 1/(MSE + cap), so images the degradation barely touched
    (JPEG QF 100, blur sigma < 0.5) outweigh the damaged ones by 100x or more when the cap is high. With a
    high cap the blur net never left the identity; a lower one lets it learn (docs/DECISIONS.md, "Loss and PSNR cap").
    """

    def __init__(self, cap_db: float = 50.0, name: str = "psnr_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.cap_db = float(cap_db)

    def call(self, clean, restored):
        return _log_mse(clean, restored, self.cap_db)

    def get_config(self):
        return {**super().get_config(), "cap_db": self.cap_db}
