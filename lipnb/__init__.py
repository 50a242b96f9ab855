"""lipnb: Lipschitz constraints in deep learning, derived, measured and shown.

A companion to Su Jianlin's 2018 article on Lipschitz constraints (kexue.fm/archives/6051).
"""

from lipnb import backend, stats
from lipnb.attacks import fgsm, loss_input_gradient, pgd, random_perturbation
from lipnb.bounds import (
    ACTIVATION_LIPSCHITZ,
    activation_lipschitz,
    finite_difference_ratios,
    jacobian_spectral_norms,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    normalized_layer_sigmas,
)
from lipnb.certify import attack_flips, certified_accuracy, certified_radius, flip_radius, logit_margins, margin_attack
from lipnb.constraints import FrobeniusBall, SpectralProjection, WeightClip
from lipnb.conv import conv_operator_matrix, conv_operator_norm, conv_operator_norm_bound
from lipnb.data import (
    class_mixture,
    eight_gaussians,
    load_digits_split,
    swiss_roll,
    twentyfive_gaussians,
    validation_split,
)
from lipnb.dcgan import DCGANCritic, DigitWGAN, batch_moments, per_call_sn
from lipnb.gan import (
    REGIMES,
    WGAN,
    GANRun,
    SampleQuality,
    image_generator,
    make_critic,
    mlp_critic,
    mlp_generator,
    train_wgan,
    train_wgans,
)
from lipnb.layers import GroupSort, MaxMin, SpectralNormalization
from lipnb.metrics import (
    DigitQuality,
    class_coverage,
    critic_gradient_norms,
    critic_slopes,
    digit_classifier,
    frechet_distance,
    log_area,
    mode_statistics,
    noise_floor,
    sliced_wasserstein1,
    steps_to_target,
    wasserstein1,
)
from lipnb.models import accuracy, conv_critic, digits_mlp, fit_classifier, fit_classifiers, predict, warm_up
from lipnb.norms import (
    PowerIterationResult,
    as_matrix,
    frobenius_norm,
    power_iteration,
    spectral_norm,
    stable_rank,
)
from lipnb.penalties import SpectralNormRegularizer, gradient_penalty
from lipnb.plotting import use_style
from lipnb.repro import NotebookRun, seed_everything, start_notebook
from lipnb.tables import markdown_table, show_table
from lipnb.training import l2_penalty, parameter_trajectory

__version__ = "0.1.0"

__all__ = [
    "certified_accuracy",
    "certified_radius",
    "flip_radius",
    "logit_margins",
    "margin_attack",
    "attack_flips",
    "DCGANCritic",
    "DigitWGAN",
    "batch_moments",
    "per_call_sn",
    "class_mixture",
    "eight_gaussians",
    "swiss_roll",
    "twentyfive_gaussians",
    "validation_split",
    "REGIMES",
    "WGAN",
    "SampleQuality",
    "train_wgan",
    "train_wgans",
    "GANRun",
    "image_generator",
    "make_critic",
    "mlp_critic",
    "mlp_generator",
    "class_coverage",
    "critic_gradient_norms",
    "critic_slopes",
    "digit_classifier",
    "frechet_distance",
    "DigitQuality",
    "steps_to_target",
    "log_area",
    "mode_statistics",
    "wasserstein1",
    "sliced_wasserstein1",
    "noise_floor",
    "FrobeniusBall",
    "SpectralNormRegularizer",
    "SpectralNormalization",
    "GroupSort",
    "MaxMin",
    "SpectralProjection",
    "WeightClip",
    "conv_critic",
    "conv_operator_matrix",
    "conv_operator_norm",
    "conv_operator_norm_bound",
    "gradient_penalty",
    "ACTIVATION_LIPSCHITZ",
    "NotebookRun",
    "PowerIterationResult",
    "accuracy",
    "activation_lipschitz",
    "fgsm",
    "fit_classifier",
    "fit_classifiers",
    "loss_input_gradient",
    "parameter_trajectory",
    "pgd",
    "predict",
    "warm_up",
    "random_perturbation",
    "as_matrix",
    "digits_mlp",
    "finite_difference_ratios",
    "frobenius_norm",
    "jacobian_spectral_norms",
    "l2_penalty",
    "lipschitz_lower_bound",
    "lipschitz_upper_bound",
    "normalized_layer_sigmas",
    "load_digits_split",
    "power_iteration",
    "seed_everything",
    "spectral_norm",
    "stable_rank",
    "start_notebook",
    "stats",
    "backend",
    "markdown_table",
    "show_table",
    "use_style",
]
