"""keras_irdi.runs.config: a run's config says the valid names."""
import pytest

from keras_irdi.runs.config import RunConfig


def test_run_config_names_list_the_choices():
    """The API says the valid names too (the preset's and load_cifar's: test_recipe.py, test_cifar.py)."""
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; choose one of: cifar10, cifar100"):
        RunConfig(dataset="mnist").validate()
    with pytest.raises(ValueError, match="unknown degradation 'motion'; choose one of: jpeg, gaussian, blur"):
        RunConfig(degradation="motion").validate()
    for seed in (-1, 2 ** 31, 1.0, True):  # a manifest holding one would fail at the stage's seeding instead
        with pytest.raises(ValueError, match=r"seed must be a whole number in 0..2147483647.*pass --seed N"):
            RunConfig(seed=seed).validate()
