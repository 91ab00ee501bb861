"""Accuracy of quantized models evaluated through exact datapaths (no downloads needed)."""

from .digits import DigitsMLP, evaluate_digits, train_digits_mlp

__all__ = ["DigitsMLP", "evaluate_digits", "train_digits_mlp"]
