"""Friendly random names for runs and logged models, in MLflow's style (bold-fox-123)."""
import random

_ADJECTIVES = (
    "able agreeable amazing ambitious bold brave bright calm capable careful casual clean clever "
    "colorful crawling dashing debonair delicate dapper efficient enchanting fearless gentle gifted "
    "glamorous grandiose honorable illustrious industrious intelligent judicious kindly languid "
    "learned legendary likeable loud luminous marvelous masked melodic merciful mercurial monumental "
    "mysterious nebulous omniscient orderly overjoyed peaceful polite popular powerful puzzled "
    "receptive redolent resilient rogue rumbling salty sedate selective sincere skillful smiling "
    "spiffy stately suave thundering traveling trusting unequaled unique unleashed upbeat valuable "
    "vaunted victorious welcoming whimsical wise worried youthful zealous"
).split()
_NOUNS = (
    "ant ape asp auk bass bat bear bee bird boar bug calf carp cat chimp cod colt conch cow crab "
    "crane croc crow cub deer doe dog dolphin donkey dove duck eel elk fawn finch fish flea fly foal "
    "fowl fox frog gnat gnu goat goose grouse grub gull hare hawk hen hog horse hound jay kit kite "
    "koi lamb lark loon lynx mare midge mink mole moose moth mouse mule newt owl ox panda penguin "
    "perch pig pug quail ram rat ray robin roo rook seal shad shark sheep shoat shrew shrike shrimp "
    "skink skunk sloth slug smelt snail snake snipe sow sponge squid squirrel stag steed stoat swan "
    "tern toad trout turtle vole wasp whale wolf worm wren yak zebra"
).split()


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randrange(1000)}"
