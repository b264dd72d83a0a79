"""What runs made before the nested presets (commit d7cf985) stored: the flat preset (the small preset as it was then), abridged to
the fields that differ from the paper's defaults plus the ones whose translation is special."""

FLAT_SMALL = {
    "name": "small", "patch_size": 32, "patch_stride": 16, "max_patches": 100000, "restoration_filters": 32,
    "estimator_filters": 32, "classifier_filters": [32, 64, 128], "classifier_dense": 256,
    "classifier_dropout": 0.0, "classifier_augmentation": "flip_shift", "warm_start": True,
    "weight_hidden": [16, 16], "patch_source": "cifar", "restoration_loss": "psnr", "restoration_psnr_cap_db": 30.0,
    "train_limit": None, "test_limit": None, "val_fraction": 0.05, "weight_train_images": 10000, "sweep_step": 1,
    "restored_copies": 1,
    "restoration": {"epochs": 6, "batch_size": 32, "steps_per_epoch": 500, "learning_rate": 0.001,
                    "optimizer": "adam", "schedule": "warmup_cosine", "warmup_epochs": 0.2, "warmup_start": 0.1},
    "estimator": {"epochs": 10, "batch_size": 32, "steps_per_epoch": 500, "learning_rate": 0.003,
                  "optimizer": "adam", "schedule": "warmup_cosine", "warmup_epochs": 0.2, "warmup_start": 0.1},
    "classifier": {"epochs": 14, "batch_size": 128, "steps_per_epoch": None, "learning_rate": 0.006,
                   "optimizer": "adamax", "schedule": "warmup_cosine", "warmup_epochs": 0.5, "warmup_start": 0.083},
    "classifier_finetune": {"epochs": 3, "batch_size": 128, "steps_per_epoch": None, "learning_rate": 0.003,
                            "optimizer": "adamax", "schedule": "warmup_cosine", "warmup_epochs": 0.25,
                            "warmup_start": 0.1},
    "weight_net": {"epochs": 20, "batch_size": 128, "steps_per_epoch": None, "learning_rate": 0.002,
                   "optimizer": "adamax", "schedule": "constant", "warmup_epochs": 0.0, "warmup_start": 0.1}}
