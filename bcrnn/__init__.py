"""bcrnn: binarized convolutional recurrent networks for speech emotion recognition.

The library behind the `bcrnn` command (bcrnn.cli): corpora and speaker-independent folds, features, Brevitas
quantizers, the CRNN/BCRNN models, metrics and reports.
"""

__version__ = "0.1.0"
