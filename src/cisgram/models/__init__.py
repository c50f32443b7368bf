"""Model families and their state on disk.

- :mod:`.iq` — the biophysical IceQream-style model (:class:`~cisgram.models.iq.IQModel`); its
  pipeline :mod:`.iq_fit` (screens, clusters, distillation, simplification, interactions) and PWM
  learning :mod:`.iq_distill`;
- :mod:`.baselines` — motif-lasso, k-mer ridge and GC baselines (one per target, a
  :class:`~cisgram.models.baselines.BaselineSet` per run);
- :mod:`.cnn` — DeepSEA-style and dilated networks and :class:`~cisgram.models.cnn.CNNModel`;
- :mod:`.get` — GET's region transformer and :class:`~cisgram.models.get.GETModel`; its feature
  baselines :mod:`.get_baselines`; LoRA adapters :mod:`.lora`;
- :mod:`.state` — safetensors weights + JSON, one format for every family.

Models hold parameters and say how to run one batch; they import neither ``training`` nor
``inference``, which take a model (``cisgram.inference.predict(model, X)``). Import from the
submodules; this package holds no code.
"""
