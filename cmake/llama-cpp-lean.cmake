# Included right after llama.cpp's own project() call when llama-cpp-python is built by
# the Makefile (CMAKE_PROJECT_llama.cpp_INCLUDE). llama-cpp-python forces llama.cpp's
# `common` library on, but its Python bindings never load it: it is the command-line
# tools' argument parser, chat parsers and model downloader, and with its bundled HTTP
# library it was 44 % of the compile time on 2 cores. Switching it off here, after the
# forced setting, leaves libllama and the ggml libraries exactly as they were.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
