# Builds and runs a user's project that consumes tinygrad, as a ctest test.
#   MODE=find_package:     install tinygrad into a temporary prefix, then
#                          find_package(tinygrad CONFIG) from it.
#   MODE=add_subdirectory: add_subdirectory() of the source tree.
# Variables: MODE SOURCE_DIR BUILD_DIR WORK_DIR CXX_COMPILER GENERATOR.

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGV}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_build ${WORK_DIR}/build)
set(configure_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})

if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
  if(NOT EXISTS ${prefix}/share/cmake/tinygrad/tinygradConfigVersion.cmake)
    message(FATAL_ERROR "the install has no tinygradConfigVersion.cmake")
  endif()
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/cmake/find_package_consumer -B ${consumer_build}
      ${configure_args} -DCMAKE_PREFIX_PATH=${prefix})
elseif(MODE STREQUAL "add_subdirectory")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/cmake/add_subdirectory_consumer -B ${consumer_build}
      ${configure_args} -DTINYGRAD_SOURCE_DIR=${SOURCE_DIR})
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

run(${CMAKE_COMMAND} --build ${consumer_build})
run(${consumer_build}/consumer)
