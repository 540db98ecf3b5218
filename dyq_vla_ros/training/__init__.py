"""Demonstration data from the simulator and training of the tiny PI0 policy."""

from dyq_vla_ros.training.config import TRAINED_ARCHITECTURE, TrainConfig
from dyq_vla_ros.training.data import DataConfig, Dataset, generate_dataset, load_dataset, load_datasets
from dyq_vla_ros.training.errors import DatasetError
from dyq_vla_ros.training.train import TrainResult, train

__all__ = [
    "TRAINED_ARCHITECTURE",
    "DataConfig",
    "Dataset",
    "DatasetError",
    "TrainConfig",
    "TrainResult",
    "generate_dataset",
    "load_dataset",
    "load_datasets",
    "train",
]
