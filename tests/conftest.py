import jax

# As optimistix does: test in float64 and make silent broadcasting an error. (Strict dtype
# promotion is left off: optax's own Adam relies on standard promotion.)
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
