"""CT -> MR translation: CUT's one-way translator (G, D, F; eq. 2-11) and its training step, CycleGAN's two-way
translator, and the history of generated images their discriminators see. Used by the methods that translate
(``ctl.methods``: ours, cyclegan, synseg, sifa, and the translation-only lsgan and cut)."""
from ctl.translate.cut import GeneratorPass, TranslationConfig, Translator, translation_step, valid_layer_names
from ctl.translate.cycle import CycleConfig, CyclePass, CycleTranslator, cycle_l1
from ctl.translate.image_pool import ImagePool

__all__ = ["GeneratorPass", "TranslationConfig", "Translator", "translation_step", "valid_layer_names",
           "CycleConfig", "CyclePass", "CycleTranslator", "cycle_l1", "ImagePool"]
