# privacy plugin
