"""The command-line demos of `python -m minimax`: the only part of the library that imports
`games`. `compare` measures the fixed against the legacy first step; `gan` trains a small GAN
(`gan.train(gan.GanRecipe(...))` from Python)."""
