# svc_protobuf_generate(<target> PROTOS <file.proto>... [IMPORT_DIRS <dir>...])
#
# Runs protoc-c on each .proto file, adds the generated .pb-c.c sources to
# <target> and puts the output folder on its include path, so code includes
# "<name>.pb-c.h". A file inside one of the IMPORT_DIRS is named relative to
# it, as its importers name it ("grpc/testing/empty.proto"), and its code is
# included the same way ("grpc/testing/empty.pb-c.h"). Works from the build
# tree and from an installed package.
find_program(SVC_PROTOC_C NAMES protoc-c protoc-gen-c REQUIRED)

function(svc_protobuf_generate target)
  cmake_parse_arguments(ARG "" "" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_PROTOS)
    message(FATAL_ERROR "svc_protobuf_generate(${target}): no PROTOS given")
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_pb)
  file(MAKE_DIRECTORY ${out_dir})
  set(sources)
  set(roots)
  foreach(d IN LISTS ARG_IMPORT_DIRS)
    get_filename_component(d_abs ${d} ABSOLUTE)
    list(APPEND roots ${d_abs})
  endforeach()
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs ${proto} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    get_filename_component(name ${abs} NAME_WE)
    set(root ${dir})
    foreach(r IN LISTS roots)
      string(FIND "${abs}" "${r}/" at)
      if(at EQUAL 0)
        set(root ${r})
        break()
      endif()
    endforeach()
    file(RELATIVE_PATH rel ${root} ${dir})
    if(rel)
      set(name ${rel}/${name})
    endif()
    set(import_args --proto_path=${root})
    foreach(r IN LISTS roots)
      if(NOT r STREQUAL root)
        list(APPEND import_args --proto_path=${r})
      endif()
    endforeach()
    add_custom_command(
      OUTPUT ${out_dir}/${name}.pb-c.c ${out_dir}/${name}.pb-c.h
      COMMAND ${SVC_PROTOC_C} ${import_args} --c_out=${out_dir} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc-c ${name}.proto"
      VERBATIM)
    list(APPEND sources ${out_dir}/${name}.pb-c.c)
  endforeach()
  target_sources(${target} PRIVATE ${sources})
  target_include_directories(${target} PUBLIC ${out_dir})
endfunction()
