"""``python -m sb3_metadqn.zoo train|enjoy|record_video [RL Zoo options]``."""

from sb3_metadqn.zoo import main

main()
