"""Where commands write: output names checked and folders claimed (`outputs.folders`), and files
written whole or not at all (`outputs.io`). Imports nothing of the project but `config`, so every
package can use it; importing it loads no TensorFlow."""
