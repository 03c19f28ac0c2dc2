"""Diffusion and flow matching: noise paths, samplers, the probability-flow likelihood."""
