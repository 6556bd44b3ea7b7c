"""The replays shipped with exsim (see README.md here for their provenance and licences),
installed as the data package ``exsim_replays`` so ``exsim demo`` finds them from any
folder."""
