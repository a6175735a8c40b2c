"""Multi-language multi-speaker LSTM acoustic model (Li and Zen, 2016): WORLD features, language
basis towers with language codes (cluster adaptive training), speaker-dependent recurrent output
layers, adaptation to new languages, synthesis from text."""
