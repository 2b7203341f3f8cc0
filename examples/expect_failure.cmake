# Runs PROGRAM with ARGUMENTS and fails unless it exits with EXIT_CODE and its
# standard error contains ERROR_PATTERN (a regular expression).
execute_process(COMMAND ${PROGRAM} ${ARGUMENTS} RESULT_VARIABLE result ERROR_VARIABLE error)
if(NOT result EQUAL EXIT_CODE)
  message(FATAL_ERROR "${PROGRAM} exited with ${result}, not ${EXIT_CODE}; it wrote\n${error}")
endif()
if(NOT error MATCHES "${ERROR_PATTERN}")
  message(FATAL_ERROR "${PROGRAM} wrote\n${error}\nwithout '${ERROR_PATTERN}'")
endif()
